// Package localtest gives a test binary one tier-1 local cluster
// (kube/local: etcd, the control plane and kwok) for all of its tests, as
// the provider, chaos and Chaos Mesh tests need:
//
//	func TestMain(m *testing.M) { os.Exit(localtest.Main(m, "kprov")) }
//	func TestX(t *testing.T) { kc := localtest.Kubeconfig(t) ... }
//
// Without `make kube`'s binaries, or with -short, the tests that ask for
// the cluster are skipped, saying why.
package localtest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/kube/local"
)

var (
	cluster *local.Cluster
	skipWhy = "no local cluster: the test binary's TestMain did not call localtest.Main"
)

// Main starts the cluster called name with opts, runs m and takes the
// cluster down; it returns m's exit code (1 when the cluster would not
// start).
func Main(m *testing.M, name string, opts ...local.Option) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		skipWhy = "-short: no local cluster"
		return m.Run()
	}
	bin, err := local.BinDir()
	if err == nil {
		err = local.CheckBinaries(bin)
	}
	if err != nil {
		skipWhy = fmt.Sprintf("no local cluster (build it with `make kube`): %v", err)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	state := filepath.Join(dir, "cluster")
	start := time.Now()
	c, err := local.Up(context.Background(), append([]local.Option{local.WithStateDir(state), local.WithBinDir(bin), local.WithName(name)}, opts...)...)
	defer func() {
		if err := local.Down(context.Background(), state); err != nil {
			fmt.Fprintln(os.Stderr, "local cluster down:", err)
		}
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "local cluster up:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "local cluster %s up in %v\n", name, time.Since(start).Round(time.Millisecond))
	cluster = c
	return m.Run()
}

// Cluster returns the binary's cluster, or skips t saying why there is
// none.
func Cluster(t testing.TB) *local.Cluster {
	t.Helper()
	if cluster == nil {
		t.Skip(skipWhy)
	}
	return cluster
}

// Kubeconfig is the admin kubeconfig of Cluster(t).
func Kubeconfig(t testing.TB) string {
	t.Helper()
	return Cluster(t).Kubeconfig
}
