package kube_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/chaos/kube"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/kube/local/localtest"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/docker"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// crashEnv is set in the child process chaostest.Crash starts: it uses the
// parent's cluster (its kubeconfig comes with the crash argument).
const crashEnv = "AIUPTIME_CRASH_STATE"

// TestMain starts one local cluster for the binary (localtest), except in
// a crash child.
func TestMain(m *testing.M) {
	if os.Getenv(crashEnv) != "" {
		os.Exit(m.Run())
	}
	os.Exit(localtest.Main(m, "kchaos"))
}

// fixture is one test's world: an opted-in namespace, two kwok nodes of
// its own (a pool label the namespace's pods select) and a Deployment
// "model" of two replicas on them, attached as a kubernetes stack.
type fixture struct {
	cli   kclient.Interface
	ns    string
	nodes [2]string
	st    *kubernetes.Stack
	env   chaos.Env
}

func setup(t *testing.T) *fixture {
	t.Helper()
	kubeconfig := localtest.Kubeconfig(t)
	ctx := t.Context()
	cli, err := kubernetes.Conn{Kubeconfig: kubeconfig}.Client()
	if err != nil {
		t.Fatal(err)
	}
	ns := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	f := &fixture{cli: cli, ns: ns, nodes: [2]string{ns + "-a", ns + "-b"}}
	key, val, _ := strings.Cut(local.FakeNodeAnnotation, "=")
	for _, n := range f.nodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Annotations: map[string]string{key: val},
			Labels: map[string]string{"pool": ns}}}
		if _, err := cli.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cli.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{}) })
	}
	if _, err := cli.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{kubernetes.LabelDrill: kubernetes.LabelDrillEnabled}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n := int32(2)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "model", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "model"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "model"}},
				Spec: corev1.PodSpec{NodeSelector: map[string]string{"pool": ns},
					Containers: []corev1.Container{{Name: "model", Image: "aiuptime/modelserver:dev"}}},
			},
		},
	}
	if _, err := cli.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.waitReady(t, 2)
	f.st, err = kubernetes.Open(ctx, kubernetes.WithKubeconfig(kubeconfig), kubernetes.WithNamespace(ns),
		kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Deployment: "model"}))
	if err != nil {
		t.Fatal(err)
	}
	f.env = chaos.Env{Stack: f.st, Journal: chaostest.Journal(t), RunID: "test"}
	return f
}

// poll calls fn until it returns nil, failing the test after d.
func poll(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (f *fixture) waitReady(t *testing.T, want int32) {
	t.Helper()
	poll(t, 2*time.Minute, fmt.Sprintf("deployment %s/model: %d ready", f.ns, want), func() error {
		d, err := f.cli.AppsV1().Deployments(f.ns).Get(t.Context(), "model", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ReadyReplicas != want || d.Status.Replicas != want {
			return fmt.Errorf("%d of %d ready (%d pods)", d.Status.ReadyReplicas, want, d.Status.Replicas)
		}
		return nil
	})
}

func (f *fixture) node(t *testing.T, name string) *corev1.Node {
	t.Helper()
	n, err := f.cli.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// nodeOf is the node model-0 runs on.
func (f *fixture) nodeOf(t *testing.T) string {
	t.Helper()
	n, err := f.st.NodeOf(t.Context(), "model-0")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) wantCordoned(t *testing.T, node string, want bool) {
	t.Helper()
	n := f.node(t, node)
	_, annotated := n.Annotations[kubernetes.AnnotationCordonedBy]
	if n.Spec.Unschedulable != want || annotated != want {
		t.Fatalf("node %s: unschedulable %v, annotated %v; want %v", node, n.Spec.Unschedulable, annotated, want)
	}
}

// audit is what `drill doctor` finds of the node kinds, "what@where" joined.
func (f *fixture) audit(t *testing.T) string {
	t.Helper()
	fs, err := chaos.AuditServices(t.Context(), f.env)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range fs {
		if strings.HasPrefix(x.What, "node-") {
			out = append(out, x.What+"@"+x.Where)
		}
	}
	return strings.Join(out, ",")
}

func inject(t *testing.T, f *fixture, kind string, params map[string]any) chaos.Revert {
	t.Helper()
	rev, err := chaostest.Plan(t, f.env, kind, params, "model-0").Inject(t.Context())
	t.Cleanup(func() { _ = rev(context.Background()) })
	if err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	return rev
}

func TestCordonRevert(t *testing.T) {
	f := setup(t)
	node := f.nodeOf(t)
	rev := inject(t, f, kube.KindCordon, nil)
	f.wantCordoned(t, node, true)
	if got := f.audit(t); got != "node-cordoned@node "+node {
		t.Errorf("audit while cordoned: %q", got)
	}
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.wantCordoned(t, node, false)
	chaostest.JournalEmpty(t, f.env.Journal)
	if got := f.audit(t); got != "" {
		t.Errorf("audit after revert: %q", got)
	}

	// A node cordoned before the fault stays cordoned after its revert.
	patch := []byte(`{"spec":{"unschedulable":true}}`)
	if _, err := f.cli.CoreV1().Nodes().Patch(t.Context(), node, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	rev = inject(t, f, kube.KindCordon, nil)
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !f.node(t, node).Spec.Unschedulable {
		t.Fatal("a node cordoned before the fault was uncordoned by its revert")
	}
}

// TestCordonCrashReplay cordons in a child process that is SIGKILLed, then
// replays its journal as `drill cleanup` does.
func TestCordonCrashReplay(t *testing.T) {
	chaostest.CrashChild(t, func(d chaos.Deps, arg string) chaos.Fault {
		cfg, ns, _ := strings.Cut(arg, "|")
		st, err := kubernetes.Open(context.Background(), kubernetes.WithKubeconfig(cfg), kubernetes.WithNamespace(ns),
			kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Deployment: "model"}))
		if err != nil {
			t.Fatal(err)
		}
		d.Labels = st.Identity().Labels
		return &kube.NodeFault{Kind: kube.KindCordon, Action: stack.NodeAction{Op: stack.NodeCordon}, Service: "model-0", Stack: st, Deps: d}
	})
	f := setup(t)
	node := f.nodeOf(t)
	state := chaostest.Crash(t, localtest.Kubeconfig(t)+"|"+f.ns)
	f.wantCordoned(t, node, true)
	res, err := chaostest.Replay(t, state, chaostest.Owns{})
	if err != nil || len(res.Reverted) != 1 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	f.wantCordoned(t, node, false)
}

func TestDrain(t *testing.T) {
	f := setup(t)
	node := f.nodeOf(t)
	// A pod of another namespace on the node: the drain would hurt it.
	if _, err := f.cli.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns + "-other"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bystander", Namespace: f.ns + "-other"},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "aiuptime/gateway:dev"}}}}
	if _, err := f.cli.CoreV1().Pods(other.Namespace).Create(t.Context(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rev, err := chaostest.Plan(t, f.env, kube.KindDrain, map[string]any{"timeout": "1m"}, "model-0").Inject(t.Context())
	if !errors.Is(err, stack.ErrNotOwned) || !strings.Contains(err.Error(), other.Namespace+"/bystander") {
		t.Fatalf("drain of a node with a bystander: %v; want a refusal naming it", err)
	}
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.wantCordoned(t, node, false)
	chaostest.JournalEmpty(t, f.env.Journal)

	if err := f.cli.CoreV1().Pods(other.Namespace).Delete(t.Context(), other.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	poll(t, time.Minute, "bystander gone", func() error {
		_, err := f.cli.CoreV1().Pods(other.Namespace).Get(t.Context(), other.Name, metav1.GetOptions{})
		if err == nil {
			return errors.New("still there")
		}
		return nil
	})
	// A PodDisruptionBudget that allows no disruption holds the eviction
	// back until the drain's timeout; the revert uncordons the node.
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "model", Namespace: f.ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &intstr.IntOrString{IntVal: 2},
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "model"}}}}
	if _, err := f.cli.PolicyV1().PodDisruptionBudgets(f.ns).Create(t.Context(), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rev, err = chaostest.Plan(t, f.env, kube.KindDrain, map[string]any{"timeout": "3s"}, "model-0").Inject(t.Context())
	if err == nil || !strings.Contains(err.Error(), "still refused") {
		t.Fatalf("drain against a PodDisruptionBudget: %v; want the eviction still refused", err)
	}
	t.Logf("refused: %v", err)
	f.wantCordoned(t, node, true)
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.wantCordoned(t, node, false)
	if err := f.cli.PolicyV1().PodDisruptionBudgets(f.ns).Delete(t.Context(), "model", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	rev = inject(t, f, kube.KindDrain, map[string]any{"timeout": "1m"})
	f.wantCordoned(t, node, true)
	pods, err := f.cli.CoreV1().Pods(f.ns).List(t.Context(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			t.Fatalf("pod %s still on drained node %s", p.Name, node)
		}
	}
	f.waitReady(t, 2) // back on the other node
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.wantCordoned(t, node, false)
	chaostest.JournalEmpty(t, f.env.Journal)
}

func TestScaleToZero(t *testing.T) {
	f := setup(t)
	rev := inject(t, f, kube.KindScaleToZero, nil)
	d, err := f.cli.AppsV1().Deployments(f.ns).Get(t.Context(), "model", metav1.GetOptions{})
	if err != nil || d.Spec.Replicas == nil || *d.Spec.Replicas != 0 {
		t.Fatalf("deployment after scale-to-zero: %v %v", d.Spec.Replicas, err)
	}
	f.waitReady(t, 0)
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.waitReady(t, 2)
	chaostest.JournalEmpty(t, f.env.Journal)
}

func ready(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func TestNodeLoss(t *testing.T) {
	f := setup(t)
	node := f.nodeOf(t)
	if got := ready(f.node(t, node)); got != corev1.ConditionTrue {
		t.Fatalf("node %s Ready %q before the fault", node, got)
	}
	rev := inject(t, f, kube.KindNodeLoss, nil)
	// The control plane sees the node lost: it taints it unreachable; by
	// then kwok would long have made it Ready again, were it managing it.
	poll(t, time.Minute, "node "+node+" tainted unreachable", func() error {
		n := f.node(t, node)
		if got := ready(n); got != corev1.ConditionUnknown {
			return fmt.Errorf("Ready %q; want Unknown", got)
		}
		for _, tn := range n.Spec.Taints {
			if tn.Key == corev1.TaintNodeUnreachable {
				return nil
			}
		}
		return fmt.Errorf("taints %v", n.Spec.Taints)
	})
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	n := f.node(t, node)
	if got := ready(n); got != corev1.ConditionTrue {
		t.Fatalf("node %s Ready %q after revert; want True", node, got)
	}
	if _, ok := n.Annotations[kubernetes.AnnotationNotReadyBy]; ok {
		t.Fatalf("node %s still annotated after revert", node)
	}
	chaostest.JournalEmpty(t, f.env.Journal)
	// The control plane takes its taint off again, and kwok keeps it Ready.
	poll(t, time.Minute, "node "+node+" untainted", func() error {
		n := f.node(t, node)
		if got := ready(n); got != corev1.ConditionTrue {
			return fmt.Errorf("Ready %q", got)
		}
		for _, tn := range n.Spec.Taints {
			if tn.Key == corev1.TaintNodeUnreachable || tn.Key == corev1.TaintNodeNotReady {
				return fmt.Errorf("taint %s", tn.Key)
			}
		}
		return nil
	})
}

// TestRefusedOnDocker: a stack without node or scale capabilities (the
// docker provider) is refused every kind at validation, by name.
func TestRefusedOnDocker(t *testing.T) {
	for _, tc := range []struct {
		kind string
		want string
	}{
		{kube.KindCordon, "node-cordon needs cluster node operations"},
		{kube.KindDrain, "node-drain needs cluster node operations"},
		{kube.KindNodeLoss, "node-loss needs cluster node operations"},
		{kube.KindScaleToZero, "scale-to-zero needs workload scaling"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			k, err := chaos.LookupKind(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			sh := stack.Shape{Kind: "docker", Capabilities: docker.Capabilities}
			if got := sh.MissingText(k.Name, k.Needs); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("docker: %q; want %q", got, tc.want)
			}
			sh = stack.Shape{Kind: "kubernetes", Capabilities: kubernetes.Capabilities}
			if got := sh.MissingText(k.Name, k.Needs); got != "" {
				t.Fatalf("kubernetes: %q; want none missing", got)
			}
		})
	}
}
