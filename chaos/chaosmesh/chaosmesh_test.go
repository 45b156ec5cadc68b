package chaosmesh_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaosmesh"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/kube/local/localtest"
	"github.com/aiuptime/aiuptime/stack"
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
	os.Exit(localtest.Main(m, "kmesh", local.WithChaosMeshCRDs()))
}

// fixture is one test's world: an opted-in namespace, a kwok node of its
// own and Deployments "gateway" (1 replica) and "model" (2), attached as
// a kubernetes stack.
type fixture struct {
	cli kclient.Interface
	dyn dynamic.Interface
	ns  string
	st  *kubernetes.Stack
	env chaos.Env
}

func setup(t *testing.T) *fixture {
	t.Helper()
	kubeconfig := localtest.Kubeconfig(t)
	ctx := t.Context()
	conn := kubernetes.Conn{Kubeconfig: kubeconfig}
	cli := must(conn.Client())(t)
	cfg := must(conn.RESTConfig())(t)
	ns := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	f := &fixture{cli: cli, dyn: must(dynamic.NewForConfig(cfg))(t), ns: ns}
	key, val, _ := strings.Cut(local.FakeNodeAnnotation, "=")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: ns, Annotations: map[string]string{key: val}, Labels: map[string]string{"pool": ns}}}
	must(cli.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}))(t)
	t.Cleanup(func() { _ = cli.CoreV1().Nodes().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	must(cli.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{kubernetes.LabelDrill: kubernetes.LabelDrillEnabled}}}, metav1.CreateOptions{}))(t)
	for app, n := range map[string]int32{"gateway": 1, "model": 2} {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: &n,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
					Spec: corev1.PodSpec{NodeSelector: map[string]string{"pool": ns},
						Containers: []corev1.Container{{Name: app, Image: "aiuptime/modelserver:dev"}}},
				},
			},
		}
		must(cli.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}))(t)
		f.waitReady(t, app, n)
	}
	var err error
	f.st, err = kubernetes.Open(ctx, kubernetes.WithKubeconfig(kubeconfig), kubernetes.WithNamespace(ns),
		kubernetes.WithRole(stack.RoleGateway, kubernetes.RoleSelector{Deployment: "gateway"}),
		kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Deployment: "model"}))
	if err != nil {
		t.Fatal(err)
	}
	f.env = chaos.Env{Stack: f.st, Journal: chaostest.Journal(t), RunID: "test-run"}
	return f
}

// must returns v, failing t on err: must(f())(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
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

func (f *fixture) waitReady(t *testing.T, name string, want int32) {
	t.Helper()
	poll(t, 2*time.Minute, fmt.Sprintf("deployment %s/%s: %d ready", f.ns, name, want), func() error {
		d, err := f.cli.AppsV1().Deployments(f.ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ReadyReplicas != want || d.Status.Replicas != want {
			return fmt.Errorf("%d of %d ready (%d pods)", d.Status.ReadyReplicas, want, d.Status.Replicas)
		}
		return nil
	})
}

// pod is the pod name of a service.
func (f *fixture) pod(t *testing.T, service string) string {
	t.Helper()
	return must(f.st.Service(t.Context(), service))(t).ContainerName
}

// objects lists the drill's Chaos Mesh objects in the namespace.
func (f *fixture) objects(t *testing.T) []string {
	t.Helper()
	c := must(chaosmesh.NewClient(kubernetes.Conn{Kubeconfig: localtest.Kubeconfig(t)}))(t)
	var out []string
	for _, u := range must(c.List(t.Context(), f.ns))(t) {
		out = append(out, u.GetKind()+"/"+u.GetName())
	}
	return out
}

// get reads the object of kind into the typed out.
func (f *fixture) get(t *testing.T, kind, name string, out runtime.Object) {
	t.Helper()
	u := must(f.dyn.Resource(chaosmesh.Resources[kind]).Namespace(f.ns).Get(t.Context(), name, metav1.GetOptions{}))(t)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatal(err)
	}
}

// exactly is the selector of exactly one pod of the namespace.
func exactly(ns, pod string) v1alpha1.PodSelector {
	return v1alpha1.PodSelector{Mode: v1alpha1.OneMode, Selector: v1alpha1.PodSelectorSpec{
		GenericSelectorSpec: v1alpha1.GenericSelectorSpec{Namespaces: []string{ns}},
		Pods:                map[string][]string{ns: {pod}},
	}}
}

func ptr[T any](v T) *T { return &v }

// TestObjects injects every kind on model-0 of the kwok tier (CRDs, no
// controller: unenforced warn), reads the object back from the API server
// and compares it with what the kind must build: exactly the target pod,
// mode one, the duration, the action and its params, the drill's labels;
// the journal holds its record until the revert, which deletes it.
func TestObjects(t *testing.T) {
	f := setup(t)
	model, gateway := f.pod(t, "model-0"), f.pod(t, "gateway")
	sel := exactly(f.ns, model)
	dur := ptr("2m0s")
	drop := v1alpha1.DropPartitionBehavior // the CRD's default, set by the API server
	tests := []struct {
		kind   string
		params map[string]any
		want   runtime.Object // spec only; metadata is checked for all
	}{
		{chaosmesh.KindNetworkDelay, map[string]any{"delay": "200ms", "jitter": "10ms", "correlation": 25},
			&v1alpha1.NetworkChaos{Spec: v1alpha1.NetworkChaosSpec{PodSelector: sel, Action: v1alpha1.DelayAction, Duration: dur, Direction: v1alpha1.To, PartitionBehavior: drop,
				TcParameter: v1alpha1.TcParameter{Delay: &v1alpha1.DelaySpec{Latency: "200ms", Jitter: "10ms", Correlation: "25"}}}}},
		{chaosmesh.KindNetworkLoss, map[string]any{"percent": 12.5},
			&v1alpha1.NetworkChaos{Spec: v1alpha1.NetworkChaosSpec{PodSelector: sel, Action: v1alpha1.LossAction, Duration: dur, Direction: v1alpha1.To, PartitionBehavior: drop,
				TcParameter: v1alpha1.TcParameter{Loss: &v1alpha1.LossSpec{Loss: "12.5", Correlation: "0"}}}}},
		{chaosmesh.KindNetworkPartition, map[string]any{"peer": "gateway"},
			&v1alpha1.NetworkChaos{Spec: v1alpha1.NetworkChaosSpec{PodSelector: sel, Action: v1alpha1.PartitionAction, Duration: dur, Direction: v1alpha1.Both, PartitionBehavior: drop,
				Target: ptr(exactly(f.ns, gateway))}}},
		{chaosmesh.KindPodKill, map[string]any{"grace_period": "3s"},
			&v1alpha1.PodChaos{Spec: v1alpha1.PodChaosSpec{ContainerSelector: v1alpha1.ContainerSelector{PodSelector: sel},
				Action: v1alpha1.PodKillAction, Duration: dur, GracePeriod: 3}}},
		{chaosmesh.KindContainerKill, nil,
			&v1alpha1.PodChaos{Spec: v1alpha1.PodChaosSpec{ContainerSelector: v1alpha1.ContainerSelector{PodSelector: sel, ContainerNames: []string{"model"}},
				Action: v1alpha1.ContainerKillAction, Duration: dur}}},
		{chaosmesh.KindIOLatency, map[string]any{"delay": "100ms", "volume_path": "/data", "path": "/data/**", "percent": 50},
			&v1alpha1.IOChaos{Spec: v1alpha1.IOChaosSpec{ContainerSelector: v1alpha1.ContainerSelector{PodSelector: sel, ContainerNames: []string{"model"}},
				Action: v1alpha1.IoLatency, Delay: "100ms", VolumePath: "/data", Path: "/data/**", Percent: 50, Duration: dur}}},
		{chaosmesh.KindIOFault, map[string]any{"errno": 28, "volume_path": "/data"},
			&v1alpha1.IOChaos{Spec: v1alpha1.IOChaosSpec{ContainerSelector: v1alpha1.ContainerSelector{PodSelector: sel, ContainerNames: []string{"model"}},
				Action: v1alpha1.IoFaults, Errno: 28, VolumePath: "/data", Percent: 100, Duration: dur}}},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) { f.injectAndCompare(t, tc.kind, tc.params, tc.want) })
	}
}

// injectAndCompare injects kind with params (unenforced warn, duration
// 2m) on model-0, compares the object in the cluster with want, reverts,
// and checks that the object and the journal record are gone.
func (f *fixture) injectAndCompare(t *testing.T, kind string, extra map[string]any, want runtime.Object) {
	params := map[string]any{"unenforced": "warn", "chaos_duration": "2m"}
	for k, v := range extra {
		params[k] = v
	}
	p := chaostest.Plan(t, f.env, kind, params, "model-0")
	rev, err := p.Inject(t.Context())
	t.Cleanup(func() { _ = rev(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	if m := "chaos-mesh (created, not enforced: no Chaos Mesh controller)"; p.Mechanism() != m {
		t.Errorf("mechanism %q, want %q", p.Mechanism(), m)
	}
	recs := must(f.env.Journal.List())(t)
	if len(recs) != 1 || recs[0].Reverter != chaosmesh.Undo || recs[0].RunID != "test-run" {
		t.Fatalf("journal: %+v, want one %s record of run test-run", recs, chaosmesh.Undo)
	}
	name := strings.Replace(chaosmesh.ObjectName(strings.TrimPrefix(kind, "mesh-"), recs[0].ID), "network-", "", 1)
	objs := f.objects(t)
	if len(objs) != 1 {
		t.Fatalf("objects: %v, want one", objs)
	}
	kindName, gotName, _ := strings.Cut(objs[0], "/")
	got := want.DeepCopyObject()
	f.get(t, kindName, gotName, got)
	meta := got.(metav1.Object)
	wantLabels := map[string]string{chaosmesh.LabelManagedBy: chaosmesh.ManagedBy, chaosmesh.LabelRun: "test-run", chaosmesh.LabelRecord: recs[0].ID}
	if diff := cmp.Diff(wantLabels, meta.GetLabels()); diff != "" || meta.GetNamespace() != f.ns || gotName != name {
		t.Errorf("object %s/%s (want name %s), labels (-want +got):\n%s", meta.GetNamespace(), gotName, name, diff)
	}
	if diff := cmp.Diff(specOf(want), specOf(got)); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	if objs := f.objects(t); len(objs) != 0 {
		t.Errorf("after revert: %v left", objs)
	}
	chaostest.JournalEmpty(t, f.env.Journal)
}

// specOf is the spec of a typed Chaos Mesh object.
func specOf(o runtime.Object) any {
	switch o := o.(type) {
	case *v1alpha1.NetworkChaos:
		return o.Spec
	case *v1alpha1.PodChaos:
		return o.Spec
	case *v1alpha1.IOChaos:
		return o.Spec
	}
	return nil
}

// TestUnenforcedFails: by default an object no controller puts in force
// fails the injection, and the revert still deletes it.
func TestUnenforcedFails(t *testing.T) {
	f := setup(t)
	p := chaostest.Plan(t, f.env, chaosmesh.KindNetworkDelay, map[string]any{"delay": "50ms"}, "model-1")
	rev, err := p.Inject(t.Context())
	t.Cleanup(func() { _ = rev(context.Background()) })
	if !errors.Is(err, chaosmesh.ErrNotEnforced) || !strings.Contains(err.Error(), "no Chaos Mesh controller") {
		t.Fatalf("inject: %v, want %v naming the missing controller", err, chaosmesh.ErrNotEnforced)
	}
	if objs := f.objects(t); len(objs) != 1 {
		t.Fatalf("objects before revert: %v, want one", objs)
	}
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	if objs := f.objects(t); len(objs) != 0 {
		t.Errorf("after revert: %v left", objs)
	}
	chaostest.JournalEmpty(t, f.env.Journal)
}

// TestFinalizerNoController: an object holding Chaos Mesh's finalizer
// with no controller to clear it is still deleted by the revert.
func TestFinalizerNoController(t *testing.T) {
	f := setup(t)
	p := chaostest.Plan(t, f.env, chaosmesh.KindPodKill, map[string]any{"unenforced": "warn"}, "model-0")
	rev, err := p.Inject(t.Context())
	t.Cleanup(func() { _ = rev(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
	objs := f.objects(t)
	if len(objs) != 1 {
		t.Fatalf("objects: %v", objs)
	}
	_, name, _ := strings.Cut(objs[0], "/")
	patch := `{"metadata":{"finalizers":["chaos-mesh/records"]}}`
	must(f.dyn.Resource(chaosmesh.Resources[chaosmesh.PodChaos]).Namespace(f.ns).Patch(t.Context(), name, apitypes.MergePatchType, []byte(patch), metav1.PatchOptions{}))(t)
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	if objs := f.objects(t); len(objs) != 0 {
		t.Errorf("after revert: %v left", objs)
	}
	chaostest.JournalEmpty(t, f.env.Journal)
}

// TestCrashReplay injects in a child process that is SIGKILLed, then
// replays its journal as `drill cleanup` does: the object goes.
func TestCrashReplay(t *testing.T) {
	chaostest.CrashChild(t, func(d chaos.Deps, arg string) chaos.Fault {
		cfg, ns, _ := strings.Cut(arg, "|")
		st, err := kubernetes.Open(context.Background(), kubernetes.WithKubeconfig(cfg), kubernetes.WithNamespace(ns),
			kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Deployment: "model"}))
		if err != nil {
			t.Fatal(err)
		}
		env := chaos.Env{Stack: st, Journal: d.Journal, RunID: d.RunID}
		return chaostest.Plan(t, env, chaosmesh.KindNetworkLoss, map[string]any{"percent": 50, "unenforced": "warn"}, "model-0")
	})
	f := setup(t)
	state := chaostest.Crash(t, localtest.Kubeconfig(t)+"|"+f.ns)
	if objs := f.objects(t); len(objs) != 1 {
		t.Fatalf("objects after the crash: %v, want one", objs)
	}
	res, err := chaostest.Replay(t, state, chaostest.Owns{})
	if err != nil || len(res.Reverted) != 1 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	if objs := f.objects(t); len(objs) != 0 {
		t.Errorf("after replay: %v left", objs)
	}
	if recs, err := chaos.ListRecords(chaos.JournalDir(state)); err != nil || len(recs) != 0 {
		t.Errorf("journal after replay: %v %v", recs, err)
	}
}

// TestRevertRefusesForeignObject: an object that no longer carries its
// record's label (someone else's now) is not deleted by the revert.
func TestRevertRefusesForeignObject(t *testing.T) {
	f := setup(t)
	p := chaostest.Plan(t, f.env, chaosmesh.KindNetworkDelay, map[string]any{"delay": "10ms", "unenforced": "warn"}, "model-0")
	rev, err := p.Inject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	objs := f.objects(t)
	kind, name, _ := strings.Cut(objs[0], "/")
	r := f.dyn.Resource(chaosmesh.Resources[kind]).Namespace(f.ns)
	patch := `{"metadata":{"labels":{"` + chaosmesh.LabelRecord + `":"someone-else"}}}`
	must(r.Patch(t.Context(), name, apitypes.MergePatchType, []byte(patch), metav1.PatchOptions{}))(t)
	if err := rev(t.Context()); err == nil {
		t.Fatal("revert deleted an object that no longer carries its record label")
	}
	if _, err := r.Get(t.Context(), name, metav1.GetOptions{}); err != nil {
		t.Fatalf("the foreign object: %v", err)
	}
	if err := r.Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// fakeController runs, on the fixture's kwok node, a pod labelled as
// Chaos Mesh's controller manager: the drill then finds a controller and
// waits for the object's status, which the test writes as the controller
// would (NetworkChaos has no status subresource).
func (f *fixture) fakeController(t *testing.T) {
	t.Helper()
	labels := map[string]string{"app.kubernetes.io/name": "chaos-mesh", "app.kubernetes.io/component": "controller-manager"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "chaos-controller-manager", Namespace: f.ns, Labels: labels},
		Spec: corev1.PodSpec{NodeSelector: map[string]string{"pool": f.ns}, Containers: []corev1.Container{{Name: "c", Image: "chaos-mesh:fake"}}}}
	must(f.cli.CoreV1().Pods(f.ns).Create(t.Context(), pod, metav1.CreateOptions{}))(t)
	t.Cleanup(func() {
		_ = f.cli.CoreV1().Pods(f.ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
	})
	c := must(chaosmesh.NewClient(kubernetes.Conn{Kubeconfig: localtest.Kubeconfig(t)}))(t)
	poll(t, time.Minute, "fake controller running", func() error {
		_, err := c.Controller(t.Context())
		return err
	})
}

// report writes, as Chaos Mesh's controller would, that the only object
// of the namespace is running and injected, once it exists.
func (f *fixture) report(t *testing.T) <-chan error {
	kc := localtest.Kubeconfig(t)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := chaosmesh.NewClient(kubernetes.Conn{Kubeconfig: kc})
		for err == nil {
			us, lerr := c.List(ctx, f.ns)
			if err = lerr; err != nil || len(us) == 0 {
				time.Sleep(50 * time.Millisecond) // polling for the object to report on
				err = errors.Join(err, ctx.Err())
				continue
			}
			st := `{"status":{"experiment":{"desiredPhase":"Run","containerRecords":[{"id":"x","selectorKey":".","phase":"Injected","injectedCount":1,"recoveredCount":0}]}}}`
			_, err = f.dyn.Resource(chaosmesh.Resources[us[0].GetKind()]).Namespace(f.ns).Patch(ctx, us[0].GetName(), apitypes.MergePatchType, []byte(st), metav1.PatchOptions{})
			break
		}
		done <- err
	}()
	return done
}

// TestEnforcement: with a controller that reports the object injected the
// fault is in force (mechanism chaos-mesh); with one that never does, the
// injection fails after enforce_timeout, saying so.
func TestEnforcement(t *testing.T) {
	f := setup(t)
	f.fakeController(t)
	t.Run("reported", func(t *testing.T) {
		done := f.report(t)
		p := chaostest.Plan(t, f.env, chaosmesh.KindNetworkDelay, map[string]any{"delay": "10ms"}, "model-0")
		rev, err := p.Inject(t.Context())
		t.Cleanup(func() { _ = rev(context.Background()) })
		if err != nil || p.Mechanism() != chaosmesh.Mechanism {
			t.Fatalf("inject: %v, mechanism %q", err, p.Mechanism())
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := rev(t.Context()); err != nil {
			t.Fatal(err)
		}
		chaostest.JournalEmpty(t, f.env.Journal)
	})
	t.Run("never reported", func(t *testing.T) {
		p := chaostest.Plan(t, f.env, chaosmesh.KindNetworkLoss, map[string]any{"percent": 5, "enforce_timeout": "1s"}, "model-0")
		rev, err := p.Inject(t.Context())
		t.Cleanup(func() { _ = rev(context.Background()) })
		if !errors.Is(err, chaosmesh.ErrNotEnforced) || !strings.Contains(err.Error(), "did not report it injected within 1s") {
			t.Fatalf("inject: %v, want %v after 1s", err, chaosmesh.ErrNotEnforced)
		}
		if err := rev(t.Context()); err != nil {
			t.Fatal(err)
		}
		if objs := f.objects(t); len(objs) != 0 {
			t.Errorf("after revert: %v left", objs)
		}
		chaostest.JournalEmpty(t, f.env.Journal)
	})
}
