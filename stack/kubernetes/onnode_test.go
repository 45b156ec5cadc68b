package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/chaos/gpu"
	"github.com/aiuptime/aiuptime/chaos/network"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/kube/deploy"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/kube/local/localtest"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// realNode starts a local cluster with a real node (kubelet, containerd)
// and the fixture images, or skips saying why it cannot.
func realNode(t *testing.T) *local.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no real node")
	}
	if os.Geteuid() != 0 {
		t.Skip("a real node needs root")
	}
	bin, err := local.BinDir()
	if err == nil {
		err = local.CheckBinaries(bin)
	}
	if err != nil {
		t.Skipf("no local cluster (build it with `make kube`): %v", err)
	}
	for _, f := range []string{local.Kubelet, local.KubeProxy} {
		if _, err := os.Stat(filepath.Join(bin, f)); err != nil {
			t.Skipf("no %s in %s (build it with `make kube`)", f, bin)
		}
	}
	for _, img := range []string{deploy.DefaultModelImage, deploy.DefaultGatewayImage} {
		if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
			t.Skipf("image %s missing (build it with `make images`)", img)
		}
	}
	state := filepath.Join(t.TempDir(), "cluster")
	c, err := local.Up(t.Context(), local.WithStateDir(state), local.WithBinDir(bin), local.WithName("konnode"),
		local.WithRealNode(), local.WithImages(deploy.DefaultModelImage, deploy.DefaultGatewayImage), local.WithLogger(testLogger(t)))
	t.Cleanup(func() {
		if err := local.Down(context.Background(), state); err != nil {
			t.Errorf("local cluster down: %v", err)
		}
	})
	if err != nil {
		t.Skipf("kube/local could not start a real node here: %v", err)
	}
	if c.Node == nil {
		t.Skip("kube/local started no real node")
	}
	return c
}

// TestOnRealNode runs nvidia-smi in a real model server pod through the
// API (exec), finds its engine among the container's processes from the
// host (NodeStack), and kills it there: the container restarts.
func TestOnRealNode(t *testing.T) {
	c := realNode(t)
	ctx := t.Context()
	cli, err := kubernetes.Conn{Kubeconfig: c.Kubeconfig}.Client()
	if err != nil {
		t.Fatal(err)
	}
	const ns = "onnode"
	if _, err := deploy.Deploy(ctx, cli, deploy.WithNamespace(ns), deploy.WithWait(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	st, err := kubernetes.Open(ctx, kubernetes.WithKubeconfig(c.Kubeconfig), kubernetes.WithNamespace(ns), kubernetes.WithLogger(testLogger(t)),
		kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Selector: deploy.LabelName + "=" + deploy.ModelApp}),
		kubernetes.WithRole(stack.RoleGateway, kubernetes.RoleSelector{Selector: deploy.LabelName + "=" + deploy.GatewayApp}))
	if err != nil {
		t.Fatal(err)
	}

	out, err := st.Exec(ctx, "model-0", gpu.QueryArgs)
	if err != nil {
		t.Fatalf("exec nvidia-smi: %v", err)
	}
	apps, err := gpu.ParseComputeApps(out)
	if err != nil || len(apps) == 0 {
		t.Fatalf("nvidia-smi in the pod: %q: %v", out, err)
	}
	if _, err := st.Exec(ctx, "model-0", []string{"/no/such/binary"}); err == nil {
		t.Fatal("exec of a missing binary: no error")
	}

	att, err := kubernetes.Attach(ctx, kubernetes.WithKubeconfig(c.Kubeconfig), kubernetes.WithNamespace(ns), kubernetes.WithOnNode(""),
		kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Selector: deploy.LabelName + "=" + deploy.ModelApp}))
	if err != nil {
		t.Fatalf("attach on the node (detected): %v", err)
	}
	on, ok := att.(*kubernetes.NodeStack)
	if !ok {
		t.Fatalf("attach on the node: %T, want *kubernetes.NodeStack", att)
	}
	if miss := stack.Missing(kubernetes.CapabilitiesOnNode, stack.CapabilitiesOf(on)); len(miss) > 0 {
		t.Errorf("the on-node shape claims %v, which the stack on the node lacks", miss)
	}
	if on.Node() != c.Node.Name {
		t.Fatalf("detected node %q; the real node is %q", on.Node(), c.Node.Name)
	}
	procs, err := on.Processes(ctx, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("model-0's processes: %+v", procs)
	engine, err := gpu.Find(ctx, on, "model-0")
	if err != nil {
		t.Fatalf("find the GPU process from the host: %v", err)
	}
	nsPath, err := on.NetNS(ctx, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	if err := procfs.CheckNotHost(nsPath.Path, "net"); err != nil {
		t.Fatalf("netns %s: %v", nsPath.Path, err)
	}

	_, pod0 := podOf(t, st, "model-0")
	restarts := pod0.restarts
	partition(t, on)

	t.Logf("nvidia-smi in the pod: %q; engine from the host: %+v; netns %s", out, engine, nsPath.Path)
	// gpu-kill as a drill runs it: nvidia-smi through exec, the engine
	// found among the container's processes and SIGKILLed from the host.
	env := chaos.Env{Stack: on, Journal: chaostest.Journal(t), RunID: "test"}
	killed := time.Now()
	rev, err := chaostest.Plan(t, env, gpu.KindKill, nil, "model-0").Inject(ctx)
	if err != nil {
		t.Fatalf("gpu-kill: %v", err)
	}
	if err := rev(ctx); err != nil {
		t.Fatal(err)
	}
	chaostest.JournalEmpty(t, env.Journal)
	poll(t, 2*time.Minute, "model-0 restarted and ready", func() error {
		p, err := cli.CoreV1().Pods(ns).Get(ctx, pod0.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n := int32(0)
		for _, cs := range p.Status.ContainerStatuses {
			n += cs.RestartCount
		}
		if n <= restarts {
			return errors.New("no restart yet")
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" {
				return nil
			}
		}
		return errors.New("not ready")
	})
	t.Logf("model-0 restarted and ready %v after its engine was killed", time.Since(killed).Round(time.Millisecond))
}

type podRef struct {
	name     string
	restarts int32
}

func podOf(t *testing.T, st *kubernetes.Stack, service string) (stack.Service, podRef) {
	t.Helper()
	svc, err := st.Service(t.Context(), service)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Client().CoreV1().Pods(st.Namespace()).Get(t.Context(), svc.ContainerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	if !strings.HasPrefix(p.Name, "aiuptime-model") {
		t.Fatalf("pod %s is no model pod", p.Name)
	}
	return svc, podRef{name: p.Name, restarts: n}
}

// TestOnNodeRefusals: on the kwok tier no node is this host, and a pod on
// another node (or with no container running) has no processes in reach:
// each says why, wrapping stack.ErrUnsupported where it is unsupported.
func TestOnNodeRefusals(t *testing.T) {
	cli := needCluster(t)
	ctx := t.Context()
	f := fixture{cli: cli, ns: "onnode-kwok"}
	f.node(ctx, t, "kwok-node-0")
	f.node(ctx, t, "kwok-node-1")
	f.namespace(ctx, t, f.ns, true)
	f.deployment(ctx, t, f.ns, "model", 1, 8000)
	f.waitReady(t, f.ns, "model", 1)
	st := must[*kubernetes.Stack](t)(kubernetes.Open(ctx, kubernetes.WithKubeconfig(localtest.Kubeconfig(t)), kubernetes.WithNamespace(f.ns),
		kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Deployment: "model"})))

	if _, err := st.OnNode(ctx, ""); !errors.Is(err, stack.ErrUnsupported) {
		t.Fatalf("detect the node of a kwok-only cluster: %v; want ErrUnsupported", err)
	}
	if att, err := kubernetes.Attach(ctx, kubernetes.WithKubeconfig(localtest.Kubeconfig(t)), kubernetes.WithNamespace(f.ns), kubernetes.WithOnNode(""),
		kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Deployment: "model"})); att != nil || !errors.Is(err, stack.ErrUnsupported) {
		t.Fatalf("attach on the node of a kwok-only cluster: %v, %v; want nil and ErrUnsupported", att, err)
	}
	node := must[string](t)(st.NodeOf(ctx, "model-0"))
	other := "kwok-node-0"
	if node == other {
		other = "kwok-node-1"
	}
	elsewhere := must[*kubernetes.NodeStack](t)(st.OnNode(ctx, other))
	if _, err := elsewhere.Processes(ctx, "model-0"); !errors.Is(err, stack.ErrUnsupported) || !strings.Contains(err.Error(), "runs on node") {
		t.Errorf("processes of a pod on another node: %v; want ErrUnsupported naming the node", err)
	}
	if _, err := elsewhere.NetNS(ctx, "model-0"); !errors.Is(err, stack.ErrUnsupported) {
		t.Errorf("netns of a pod on another node: %v; want ErrUnsupported", err)
	}
	here := must[*kubernetes.NodeStack](t)(st.OnNode(ctx, node))
	if _, err := here.Processes(ctx, "model-0"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("processes of a simulated pod: %v; want its container not running", err)
	}
	if miss := stack.Missing(kubernetes.Capabilities, stack.CapabilitiesOf(st)); len(miss) > 0 {
		t.Errorf("the shape claims %v, which the stack lacks", miss)
	}
	caps := fmt.Sprint(stack.CapabilitiesOf(here))
	if !strings.Contains(caps, "processes") || !strings.Contains(caps, "network") || strings.Contains(fmt.Sprint(stack.CapabilitiesOf(st)), "processes") {
		t.Errorf("capabilities on node %s, off node %v", caps, stack.CapabilitiesOf(st))
	}
}

// partition cuts model-0 off in its pod's network namespace (the
// network-partition kind, links down) and checks from the host that its
// health endpoint is out of reach, then back after the revert.
func partition(t *testing.T, on *kubernetes.NodeStack) {
	t.Helper()
	ctx := t.Context()
	ips, err := on.Addrs(ctx, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + net.JoinHostPort(ips[0].String(), "8000") + "/health"
	hc := &http.Client{Timeout: time.Second}
	health := func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := health(); err != nil {
		t.Fatalf("model-0 from the host before the partition: %v", err)
	}
	env := chaos.Env{Stack: on, Journal: chaostest.Journal(t), RunID: "test"}
	rev, err := chaostest.Plan(t, env, network.KindPartition, nil, "model-0").Inject(ctx)
	t.Cleanup(func() { _ = rev(context.Background()) })
	if err != nil {
		t.Fatalf("partition in the pod's netns: %v", err)
	}
	if err := health(); err == nil {
		t.Fatal("model-0 reachable from the host while partitioned")
	}
	if err := rev(ctx); err != nil {
		t.Fatal(err)
	}
	chaostest.JournalEmpty(t, env.Journal)
	poll(t, 30*time.Second, "model-0 reachable after the revert", health)
}
