package kubernetes_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/aiuptime/aiuptime/kube/local/localtest"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// recJournal is a stack.ChangeJournal that keeps its records in memory,
// as the drill's journal keeps them on disk.
type recJournal struct {
	mu   sync.Mutex
	live map[string]stack.Undo
}

func (j *recJournal) journal(target string, u stack.Undo, _ string) (func() error, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.live == nil {
		j.live = map[string]stack.Undo{}
	}
	j.live[target] = u
	return func() error {
		j.mu.Lock()
		defer j.mu.Unlock()
		delete(j.live, target)
		return nil
	}, nil
}

func (j *recJournal) targets() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for t := range j.live {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// modelDeployment is a model server's Deployment as a customer might
// write it: its own app label, a shared tier label the role selects, a
// models volume, and a Service of its own.
func (f fixture) modelDeployment(ctx context.Context, t *testing.T, app string) {
	one := int32(1)
	tpl := podTemplate(app, 8000)
	tpl.Labels["tier"] = "model"
	tpl.Spec.Volumes = []corev1.Volume{{Name: "models", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	tpl.Spec.Containers[0].Args = []string{"--model-dir", "/models"}
	tpl.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "models", MountPath: "/models"}}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: f.ns},
		Spec:       appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}, Template: tpl},
	}
	must[*appsv1.Deployment](t)(f.cli.AppsV1().Deployments(f.ns).Create(ctx, d, metav1.CreateOptions{}))
	f.service(ctx, t, app, map[string]string{"app": app})
	f.waitReady(t, f.ns, app, 1)
}

func (f fixture) service(ctx context.Context, t *testing.T, name string, sel map[string]string) {
	sv := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, Spec: corev1.ServiceSpec{Selector: sel,
		Ports: []corev1.ServicePort{{Port: 8000, TargetPort: intstr.FromInt32(8000)}}}}
	must[*corev1.Service](t)(f.cli.CoreV1().Services(f.ns).Create(ctx, sv, metav1.CreateOptions{}))
}

// TestReplace drives stack.Replacer and the blue-green switch on kwok
// pods: a canary Deployment copied from a model server's, with a
// generated model version, listed under its name and journaled while it
// exists; a replace that rolls the owning Deployment and a replace
// without options that rolls it back; a Service switched to a green twin
// and back, its endpoints checked; and the refusals that keep the harness
// inside the stack.
func TestReplace(t *testing.T) {
	cli := needCluster(t)
	ctx := t.Context()
	f := fixture{cli: cli, ns: "replace"}
	f.node(ctx, t, "kwok-replace-0")
	f.namespace(ctx, t, f.ns, true)
	f.modelDeployment(ctx, t, "model-a")
	f.modelDeployment(ctx, t, "model-b")
	f.deployment(ctx, t, f.ns, "gw", 1, 4000)
	f.service(ctx, t, "gw", map[string]string{"app": "gw"})
	f.waitReady(t, f.ns, "gw", 1)
	gen := kubernetes.ModelGenerator{Volume: "models", Command: []string{"/gen", "--dir", "{dir}", "--name", "{model}", "--version", "{version}"}}
	open := func(opts ...kubernetes.Option) *kubernetes.Stack {
		return must[*kubernetes.Stack](t)(kubernetes.Open(ctx, append([]kubernetes.Option{kubernetes.WithKubeconfig(localtest.Kubeconfig(t)),
			kubernetes.WithNamespace(f.ns), kubernetes.WithModelName("tiny"),
			kubernetes.WithRole(stack.RoleGateway, kubernetes.RoleSelector{Selector: "app=gw"}),
			kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Selector: "tier=model"}),
			kubernetes.WithLogger(testLogger(t))}, opts...)...))
	}
	st := open(kubernetes.WithModelGenerator(gen))
	j := &recJournal{}
	st.SetChangeJournal(j.journal)

	t.Run("canary", func(t *testing.T) {
		c := must[stack.Service](t)(st.AddService(ctx, "canary", stack.RoleModel, stack.WithArgs("--extra-latency", "1ms"), stack.WithModelVersion("1.1.0")))
		if c.Name != "canary" || c.DeploymentID != "canary" || c.InternalURL == "" {
			t.Errorf("canary service = %+v", c)
		}
		if got := names(must[[]stack.Service](t)(st.Services(ctx))); !slices.Equal(got, []string{"gateway", "model-0", "model-1", "canary"}) {
			t.Errorf("services = %v", got)
		}
		d := must[*appsv1.Deployment](t)(cli.AppsV1().Deployments(f.ns).Get(ctx, "model-a-canary", metav1.GetOptions{}))
		tpl := d.Spec.Template
		if tpl.Labels["app"] != "model-a-canary" || tpl.Labels["tier"] != "model" || tpl.Labels[kubernetes.LabelService] != "canary" {
			t.Errorf("canary pod labels %v: want app moved off model-a's selector, tier kept, the service label", tpl.Labels)
		}
		if args := tpl.Spec.Containers[0].Args; !slices.Equal(args, []string{"--model-dir", "/models", "--extra-latency", "1ms"}) {
			t.Errorf("canary args %v", args)
		}
		if len(tpl.Spec.InitContainers) != 1 || !slices.Equal(tpl.Spec.InitContainers[0].Command, []string{"/gen", "--dir", "/models", "--name", "tiny", "--version", "1.1.0"}) {
			t.Errorf("init containers %+v: want the generator with its placeholders filled", tpl.Spec.InitContainers)
		}
		if v := tpl.Spec.Volumes[0]; v.EmptyDir == nil {
			t.Errorf("models volume %+v: want an emptyDir", v)
		}
		if got := j.targets(); !slices.Equal(got, []string{f.ns + "/model-a-canary"}) {
			t.Errorf("journaled while the canary exists: %v", got)
		}
		if err := st.RemoveService(ctx, "canary"); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.AppsV1().Deployments(f.ns).Get(ctx, "model-a-canary", metav1.GetOptions{}); err == nil {
			t.Error("the canary's Deployment is still there after RemoveService")
		}
		if got := j.targets(); len(got) != 0 {
			t.Errorf("journal after removal: %v, want empty", got)
		}
	})

	t.Run("replace rolls the owning deployment and back", func(t *testing.T) {
		image := func() string {
			return must[*appsv1.Deployment](t)(cli.AppsV1().Deployments(f.ns).Get(ctx, "model-b", metav1.GetOptions{})).Spec.Template.Spec.Containers[0].Image
		}
		was := image()
		before := must[stack.Service](t)(st.Service(ctx, "model-1"))
		s := must[stack.Service](t)(st.ReplaceService(ctx, "model-1", stack.WithImage("aiuptime/model-b:v2")))
		if s.Name != "model-1" || s.ContainerID == before.ContainerID || s.Image != "aiuptime/model-b:v2" {
			t.Errorf("replaced = %+v (before %s)", s, before.ContainerID)
		}
		must[stack.Service](t)(st.ReplaceService(ctx, "model-1"))
		if got := image(); got != was {
			t.Errorf("after a replace without options the image is %s, want %s back", got, was)
		}
	})

	t.Run("blue-green switch", func(t *testing.T) {
		green := must[stack.Service](t)(st.AddServiceFrom(ctx, "model-0", "model-0-green", stack.WithImage("aiuptime/model-a:v2")))
		if _, err := cli.AppsV1().Deployments(f.ns).Get(ctx, "model-a-green", metav1.GetOptions{}); err != nil {
			t.Errorf("green's Deployment: %v (want model-a-green beside model-a)", err)
		}
		if n := must[[]string](t)(st.SelectingServices(ctx, "model-0")); !slices.Equal(n, []string{"model-a"}) {
			t.Fatalf("services selecting model-0: %v", n)
		}
		res, forget, err := st.SwitchService(ctx, "model-a", kubernetes.AddedSelector("model-0-green"), true)
		if err != nil {
			t.Fatal(err)
		}
		gip := must[*url.URL](t)(url.Parse(green.InternalURL)).Hostname()
		if !slices.Equal(res.Endpoints, []string{gip}) || res.From["app"] != "model-a" {
			t.Errorf("switch = %+v: want the endpoints to be green's %s", res, gip)
		}
		undo := j.live[f.ns+"/service/model-a"]
		fn, ok := stack.LookupUndo(undo.Func)
		if !ok {
			t.Fatalf("undo %q not registered", undo.Func)
		}
		sc := stack.Scope{Run: "k8stest", Labels: map[string]string{kubernetes.LabelDrill: kubernetes.LabelDrillEnabled}, Verify: true}
		if err := fn(ctx, sc, undo.State); err != nil {
			t.Fatalf("replay of the switch: %v", err)
		}
		sv := must[*corev1.Service](t)(cli.CoreV1().Services(f.ns).Get(ctx, "model-a", metav1.GetOptions{}))
		if sv.Spec.Selector["app"] != "model-a" || len(sv.Spec.Selector) != 1 {
			t.Errorf("after the replay the selector is %v, want app=model-a", sv.Spec.Selector)
		}
		if err := forget(); err != nil {
			t.Fatal(err)
		}
		if err := st.RemoveService(ctx, "model-0-green"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		plain := open()
		for _, tc := range []struct {
			name string
			fn   func() error
			want error
		}{
			{"a gateway", func() error { _, err := st.AddService(ctx, "gw2", stack.RoleGateway); return err }, stack.ErrUnsupported},
			{"a version without a generator", func() error {
				_, err := plain.AddService(ctx, "canary", stack.RoleModel, stack.WithModelVersion("2"))
				return err
			}, stack.ErrUnsupported},
			{"removing a service the harness did not add", func() error { return st.RemoveService(ctx, "model-0") }, stack.ErrNotOwned},
			{"switching the gateway's Service", func() error {
				_, _, err := st.SwitchService(ctx, "gw", kubernetes.AddedSelector("x"), false)
				return err
			}, stack.ErrNotOwned},
			{"switching a model Service to the gateway's pods", func() error {
				_, _, err := st.SwitchService(ctx, "model-a", map[string]string{"app": "gw"}, false)
				return err
			}, stack.ErrNotOwned},
			{"a slot's name", func() error { _, err := st.AddService(ctx, "model-7", stack.RoleModel); return err }, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.fn()
				if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
					t.Errorf("err = %v, want %v", err, tc.want)
				}
				t.Logf("%v", err)
			})
		}
		if got := j.targets(); len(got) != 0 {
			t.Errorf("refusals journaled %v", got)
		}
	})

	t.Run("a Service selecting every model pod refuses a canary", func(t *testing.T) {
		f.service(ctx, t, "all-models", map[string]string{"tier": "model"})
		_, err := st.AddService(ctx, "canary", stack.RoleModel)
		if err == nil || !strings.Contains(err.Error(), "all-models") {
			t.Errorf("err = %v, want the Service all-models named", err)
		}
	})
}
