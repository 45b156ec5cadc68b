// Command kube-proxy is the upstream kube-proxy, built from the pinned
// k8s.io/kubernetes module: it runs app.NewProxyCommand. kube/local's
// real-node tier runs it in iptables mode so that Services answer on the
// node.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-proxy/app"
)

func main() { os.Exit(cli.Run(app.NewProxyCommand())) }
