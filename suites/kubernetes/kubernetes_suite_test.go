// Package kubernetes_test drills a Kubernetes stack end to end, as an
// engineer would: `drill kube up --real-node` starts the local cluster with
// one real node (kubelet and Debian's containerd running the fixture
// images), `drill kube deploy` puts the gateway and two model servers on it,
// and the shipped plans run against stacks/kubernetes-local.yaml with real
// traffic through the gateway's Service. After `drill kube down`, `drill
// doctor` and the host itself (links, iptables chains, mounts) must show
// nothing of the cluster. The kwok tier (label kwok: the control plane with
// simulated nodes and the Chaos Mesh CRDs) has a drill roll a 100-replica
// Deployment and create and remove Chaos Mesh objects.
package kubernetes_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aiuptime/aiuptime/suites/internal/suitekit"
)

func TestKubernetes(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Kubernetes Suite", Label("kubernetes"))
}

// drillBin is the drill CLI under test, built once per suite.
var drillBin string

var _ = BeforeSuite(func(ctx SpecContext) { drillBin = suitekit.BuildDrill(ctx) }, NodeTimeout(5*time.Minute))

// drill runs the CLI with args and extra environment from the module root.
func drill(ctx context.Context, env []string, args ...string) suitekit.Run {
	GinkgoHelper()
	return suitekit.Drill(ctx, drillBin, env, args...)
}
