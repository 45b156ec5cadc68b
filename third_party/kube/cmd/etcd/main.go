// Command etcd is the upstream etcd server, built from the pinned
// go.etcd.io/etcd/server/v3 module: it runs etcdmain.Main, as etcd's own
// main does.
//
// It is a module of its own: k8s.io/kubernetes v1.37.2 requires
// go.etcd.io/etcd/server/v3 v3.7.0, so in the parent module minimal version
// selection would build etcd 3.7 instead of the pinned 3.6 release.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
