package kubernetes_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/kube/local"
	"github.com/aiuptime/aiuptime/kube/local/localtest"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
	"github.com/aiuptime/aiuptime/stack/stackfile"
)

// TestMain starts one local cluster (etcd, the control plane and kwok) for
// the whole binary and takes it down at the end (localtest).
func TestMain(m *testing.M) { os.Exit(localtest.Main(m, "kprov")) }

func needCluster(t *testing.T) kclient.Interface {
	t.Helper()
	cli, err := kubernetes.Conn{Kubeconfig: localtest.Kubeconfig(t)}.Client()
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// poll calls f until it returns nil, failing the test after d.
func poll(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// must returns v, failing the test on err.
func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// fixture creates a kwok node, the namespace (optionally opted in) and
// Deployments of the two roles, and waits until they are ready.
type fixture struct {
	cli kclient.Interface
	ns  string
}

func (f fixture) node(ctx context.Context, t *testing.T, name string) {
	k, v, _ := strings.Cut(local.FakeNodeAnnotation, "=")
	_, err := f.cli.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: name, Annotations: map[string]string{k: v}, Labels: map[string]string{"type": "kwok"}}}, metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
}

func (f fixture) namespace(ctx context.Context, t *testing.T, name string, optIn bool) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if optIn {
		ns.Labels = map[string]string{kubernetes.LabelDrill: kubernetes.LabelDrillEnabled}
	}
	must[*corev1.Namespace](t)(f.cli.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}))
}

func (f fixture) setOptIn(ctx context.Context, t *testing.T, on bool) {
	patch := `{"metadata":{"labels":{"` + kubernetes.LabelDrill + `":null}}}`
	if on {
		patch = `{"metadata":{"labels":{"` + kubernetes.LabelDrill + `":"` + kubernetes.LabelDrillEnabled + `"}}}`
	}
	must[*corev1.Namespace](t)(f.cli.CoreV1().Namespaces().Patch(ctx, f.ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}))
}

func podTemplate(app string, port int32) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"type": "kwok"},
			Containers: []corev1.Container{{Name: app, Image: "aiuptime/" + app + ":dev",
				Ports: []corev1.ContainerPort{{ContainerPort: port}}}},
		},
	}
}

func (f fixture) deployment(ctx context.Context, t *testing.T, ns, app string, replicas int32, port int32) {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Template: podTemplate(app, port),
		},
	}
	must[*appsv1.Deployment](t)(f.cli.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}))
}

func (f fixture) pod(ctx context.Context, t *testing.T, ns, name, app string) {
	tpl := podTemplate(app, 8000)
	must[*corev1.Pod](t)(f.cli.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: tpl.Labels}, Spec: tpl.Spec}, metav1.CreateOptions{}))
}

func (f fixture) waitReady(t *testing.T, ns, name string, want int32) {
	t.Helper()
	poll(t, 2*time.Minute, fmt.Sprintf("deployment %s/%s: %d ready", ns, name, want), func() error {
		d, err := f.cli.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ReadyReplicas != want || d.Status.Replicas != want {
			return fmt.Errorf("%d of %d ready (%d pods)", d.Status.ReadyReplicas, want, d.Status.Replicas)
		}
		return nil
	})
}

func names(svcs []stack.Service) []string {
	out := make([]string, len(svcs))
	for i, s := range svcs {
		out[i] = s.Name
	}
	return out
}

// TestStack drives the provider against the local cluster: the opt-in
// refusal, services by slot, ownership, a pod kill and its replacement, a
// stop (scale-down) and the replay of both undos.
func TestStack(t *testing.T) {
	cli := needCluster(t)
	ctx := t.Context()
	f := fixture{cli: cli, ns: "aiuptime"}
	f.node(ctx, t, "kwok-node-0")
	f.namespace(ctx, t, f.ns, false)
	f.namespace(ctx, t, "other", true)
	f.deployment(ctx, t, f.ns, "gw", 1, 4000)
	f.deployment(ctx, t, f.ns, "model", 2, 8000)
	f.pod(ctx, t, f.ns, "stray", "stray")
	f.pod(ctx, t, "other", "model-elsewhere", "model")
	f.waitReady(t, f.ns, "gw", 1)
	f.waitReady(t, f.ns, "model", 2)

	opts := []kubernetes.Option{kubernetes.WithKubeconfig(localtest.Kubeconfig(t)), kubernetes.WithNamespace(f.ns),
		kubernetes.WithRole(stack.RoleGateway, kubernetes.RoleSelector{Selector: "app=gw"}),
		kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Deployment: "model"}),
		kubernetes.WithGatewayURL("http://127.0.0.1:30400"), kubernetes.WithLogger(testLogger(t))}

	_, err := kubernetes.Open(ctx, opts...)
	if !errors.Is(err, kubernetes.ErrNotOptedIn) || !strings.Contains(err.Error(), "namespace aiuptime lacks the label aiuptime.io/drill=enabled") {
		t.Fatalf("open without the opt-in label: %v, want ErrNotOptedIn naming the namespace and the label", err)
	}
	f.setOptIn(ctx, t, true)
	st := must[*kubernetes.Stack](t)(kubernetes.Open(ctx, opts...))

	svcs := must[[]stack.Service](t)(st.Services(ctx))
	if got := names(svcs); strings.Join(got, ",") != "gateway,model-0,model-1" {
		t.Fatalf("services %v, want gateway, model-0, model-1", got)
	}
	if svcs[0].URL != "http://127.0.0.1:30400" || svcs[0].Role != stack.RoleGateway || !strings.HasSuffix(svcs[1].InternalURL, ":8000") {
		t.Errorf("services %+v", svcs)
	}
	created := func(s stack.Service) time.Time {
		p := must[*corev1.Pod](t)(cli.CoreV1().Pods(f.ns).Get(ctx, s.ContainerName, metav1.GetOptions{}))
		return p.CreationTimestamp.Time
	}
	if c0, c1 := created(svcs[1]), created(svcs[2]); c0.After(c1) || (c0.Equal(c1) && svcs[1].ContainerName > svcs[2].ContainerName) {
		t.Errorf("model-0 (%s, %v) is not the older pod of model-1 (%s, %v)", svcs[1].ContainerName, c0, svcs[2].ContainerName, c1)
	}

	t.Run("owns", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			fn   func() error
			ok   bool
		}{
			{"gateway", func() error { return st.Owns(ctx, "gateway") }, true},
			{"model-1", func() error { return st.Owns(ctx, "model-1") }, true},
			{"unknown service", func() error { return st.Owns(ctx, "model-7") }, false},
			{"pod in another namespace", func() error { return st.OwnsPod(ctx, "other", "model-elsewhere", stack.RoleModel) }, false},
			{"pod not matching", func() error { return st.OwnsPod(ctx, f.ns, "stray", stack.RoleModel) }, false},
			{"role not of the stack", func() error { return st.OwnsPod(ctx, f.ns, svcs[1].ContainerName, stack.RoleMonitor) }, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.fn()
				switch {
				case tc.ok && err != nil:
					t.Errorf("refused: %v", err)
				case !tc.ok && !errors.Is(err, stack.ErrNotOwned):
					t.Errorf("err = %v, want ErrNotOwned", err)
				}
				t.Logf("%v", err)
			})
		}
	})

	t.Run("stack file", func(t *testing.T) {
		must[*corev1.Secret](t)(cli.CoreV1().Secrets(f.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gw-key"},
			Data: map[string][]byte{"master": []byte("sk-from-secret")}}, metav1.CreateOptions{}))
		path := filepath.Join(t.TempDir(), "k.yaml")
		src := fmt.Sprintf(`kind: kubernetes
model_name: m
kubernetes:
  kubeconfig: %q
  namespace: aiuptime
  roles:
    gateway: {deployment: gw}
    model: {selector: "app=model"}
  api_key_secret: {name: gw-key, key: master}
services:
  model: {health_path: /ready}
`, localtest.Kubeconfig(t))
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		fst := must[stack.Stack](t)(stackfile.Open(ctx, path))
		defer fst.Stop(ctx)
		got := must[[]stack.Service](t)(fst.Services(ctx))
		if fst.Kind() != kubernetes.Kind || fst.APIKey() != "sk-from-secret" || fst.ModelName() != "m" ||
			strings.Join(names(got), ",") != "gateway,model-0,model-1" || got[1].HealthPath != "/ready" || got[0].HealthPath != "/health/readiness" {
			t.Errorf("stack file: kind %s, key from secret %v, model %s, services %+v", fst.Kind(), fst.APIKey() == "sk-from-secret", fst.ModelName(), got)
		}
		if caps := stack.CapabilitiesOf(fst); fmt.Sprint(caps) != "[lifecycle exec volumes ownership logs replace nodes scale rollout cluster]" {
			t.Errorf("capabilities %v", caps)
		}
	})

	// Undo records name the kubeconfig and context resolved at Open, not
	// $KUBECONFIG: `drill cleanup` may run with another environment.
	t.Run("kubeconfig from the environment", func(t *testing.T) {
		t.Setenv("KUBECONFIG", localtest.Kubeconfig(t))
		est := must[*kubernetes.Stack](t)(kubernetes.Open(ctx, opts[1:]...))
		u := must[stack.Undo](t)(est.UndoOf(ctx, "model-0", stack.Action{Op: stack.OpKill}))
		var st struct {
			Conn kubernetes.Conn `json:"conn"`
		}
		if err := json.Unmarshal(u.State, &st); err != nil || st.Conn.Kubeconfig != localtest.Kubeconfig(t) || st.Conn.Context == "" {
			t.Errorf("journaled connection %+v (%v), want %s and its current context", st.Conn, err, localtest.Kubeconfig(t))
		}
	})

	t.Run("unsupported", func(t *testing.T) {
		if _, err := st.Logs(ctx, "model-0", 10); !errors.Is(err, stack.ErrUnsupported) {
			t.Errorf("logs on a kwok node: %v, want ErrUnsupported", err)
		}
		if err := st.Act(ctx, "model-0", stack.Action{Op: stack.OpKill, Signal: syscall.SIGTERM}); !errors.Is(err, stack.ErrUnsupported) {
			t.Errorf("kill with SIGTERM: %v, want ErrUnsupported", err)
		}
		if err := st.Act(ctx, "model-0", stack.Action{Op: stack.OpPause}); !errors.Is(err, stack.ErrUnsupported) {
			t.Errorf("pause: %v, want ErrUnsupported", err)
		}
	})

	id := st.Identity()
	replay := func(t *testing.T, u stack.Undo) error {
		fn, ok := stack.LookupUndo(u.Func)
		if !ok {
			t.Fatalf("undo %s not registered", u.Func)
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return fn(rctx, stack.Scope{Run: "k8stest", Labels: id.Labels, Verify: true}, u.State)
	}

	t.Run("kill", func(t *testing.T) {
		before := must[[]stack.Service](t)(st.Services(ctx))
		undo := must[stack.Undo](t)(st.UndoOf(ctx, "model-0", stack.Action{Op: stack.OpKill}))
		start := time.Now()
		if err := st.Act(ctx, "model-0", stack.Action{Op: stack.OpKill, Signal: syscall.SIGKILL}); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.CoreV1().Pods(f.ns).Get(ctx, before[1].ContainerName, metav1.GetOptions{}); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("pod %s after kill: %v, want not found", before[1].ContainerName, err)
		}
		poll(t, time.Minute, "model-0 replaced and running", func() error {
			s, err := st.Service(ctx, "model-0")
			if err != nil {
				return err
			}
			if s.ContainerID == before[1].ContainerID {
				return errors.New("still the killed pod")
			}
			rs, err := st.RunState(ctx, "model-0")
			if err != nil {
				return err
			}
			if !rs.Running || rs.Status != "running/ready" {
				return fmt.Errorf("state %+v", rs)
			}
			return nil
		})
		t.Logf("model-0 replaced and ready %v after the kill", time.Since(start).Round(time.Millisecond))
		after := must[[]stack.Service](t)(st.Services(ctx))
		if strings.Join(names(after), ",") != "gateway,model-0,model-1" || after[2].ContainerID != before[2].ContainerID {
			t.Errorf("after the kill: %+v, want model-1 untouched (%s)", names(after), before[2].ContainerName)
		}
		if err := replay(t, undo); err != nil {
			t.Errorf("replay undo of kill: %v", err)
		}
	})

	t.Run("stop", func(t *testing.T) {
		before := must[[]stack.Service](t)(st.Services(ctx))
		undo := must[stack.Undo](t)(st.UndoOf(ctx, "model-1", stack.Action{Op: stack.OpStop}))
		if err := st.Act(ctx, "model-1", stack.Action{Op: stack.OpStop, Timeout: time.Second}); err != nil {
			t.Fatal(err)
		}
		d := must[*appsv1.Deployment](t)(cli.AppsV1().Deployments(f.ns).Get(ctx, "model", metav1.GetOptions{}))
		if *d.Spec.Replicas != 1 {
			t.Errorf("replicas after stop = %d, want 1", *d.Spec.Replicas)
		}
		poll(t, time.Minute, "model-1 gone", func() error {
			if _, err := st.Service(ctx, "model-1"); !errors.Is(err, stack.ErrNotFound) {
				return fmt.Errorf("model-1: %v", err)
			}
			return nil
		})
		if s := must[stack.Service](t)(st.Service(ctx, "model-0")); s.ContainerID != before[1].ContainerID {
			t.Errorf("model-0 changed: %s, was %s", s.ContainerName, before[1].ContainerName)
		}

		// A namespace that no longer opts in is refused to a replay.
		f.setOptIn(ctx, t, false)
		if err := replay(t, undo); !errors.Is(err, stack.ErrUntrusted) {
			t.Errorf("replay in a namespace without the opt-in label: %v, want ErrUntrusted", err)
		}
		f.setOptIn(ctx, t, true)

		if err := replay(t, undo); err != nil {
			t.Fatalf("replay undo of stop: %v", err)
		}
		f.waitReady(t, f.ns, "model", 2)
		poll(t, time.Minute, "model-1 back", func() error {
			_, err := st.Service(ctx, "model-1")
			return err
		})
		if got := names(must[[]stack.Service](t)(st.Services(ctx))); strings.Join(got, ",") != "gateway,model-0,model-1" {
			t.Errorf("services after undo %v", got)
		}
	})

	t.Run("restart", func(t *testing.T) {
		before := must[stack.Service](t)(st.Service(ctx, "gateway"))
		if err := st.Act(ctx, "gateway", stack.Action{Op: stack.OpRestart, Timeout: 2 * time.Second}); err != nil {
			t.Fatal(err)
		}
		poll(t, time.Minute, "gateway replaced", func() error {
			s, err := st.Service(ctx, "gateway")
			if err != nil {
				return err
			}
			if s.ContainerID == before.ContainerID {
				return errors.New("still the old pod")
			}
			return nil
		})
	})
}

// TestReplayGoneOrUntrusted replays journaled undo state as `drill
// cleanup` does, without a cluster: what is gone counts as undone, a
// record naming no namespace is refused.
func TestReplayGoneOrUntrusted(t *testing.T) {
	fn, ok := stack.LookupUndo(kubernetes.UndoReplicas)
	if !ok {
		t.Fatalf("%s not registered", kubernetes.UndoReplicas)
	}
	sc := stack.Scope{Run: "k8stest", Labels: map[string]string{kubernetes.LabelDrill: kubernetes.LabelDrillEnabled}, Verify: true}
	missing := filepath.Join(t.TempDir(), "kubeconfig")
	for _, tc := range []struct {
		name, state string
		want        error
	}{
		{"no deployment owned the pod", `{"namespace":"aiuptime","pod":"p"}`, nil},
		{"cluster gone with its kubeconfig", `{"conn":{"kubeconfig":"` + missing + `"},"namespace":"aiuptime","deployment":"model","replicas":2,"scale":true}`, nil},
		{"no namespace", `{"deployment":"model"}`, stack.ErrUntrusted},
		{"not json", `[`, stack.ErrUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fn(t.Context(), sc, json.RawMessage(tc.state))
			if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("replay: %v, want %v", err, tc.want)
			}
		})
	}
}
