package kubernetes_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/aiuptime/aiuptime/kube/local/localtest"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// TestRollout drives a 100-replica Deployment on kwok nodes through a
// rolling update (maxSurge and maxUnavailable 25%) and its undo, measuring
// both, and checks that rollouts of Deployments that are not the role's
// are refused.
func TestRollout(t *testing.T) {
	cli := needCluster(t)
	ctx := t.Context()
	const replicas = 100
	f := fixture{cli: cli, ns: "rollout"}
	f.node(ctx, t, "kwok-rollout-0")
	f.namespace(ctx, t, f.ns, true)
	f.namespace(ctx, t, "rollout-other", true)
	f.deployment(ctx, t, f.ns, "model", replicas, 8000)
	f.deployment(ctx, t, f.ns, "gw", 1, 4000)
	f.deployment(ctx, t, f.ns, "stray", 1, 8000)
	f.deployment(ctx, t, "rollout-other", "model", 1, 8000)
	start := time.Now()
	f.waitReady(t, f.ns, "model", replicas)
	f.waitReady(t, f.ns, "gw", 1)
	f.waitReady(t, f.ns, "stray", 1)
	t.Logf("%d replicas ready in %v", replicas, time.Since(start).Round(time.Millisecond))

	st := must[*kubernetes.Stack](t)(kubernetes.Open(ctx, kubernetes.WithKubeconfig(localtest.Kubeconfig(t)), kubernetes.WithNamespace(f.ns),
		kubernetes.WithRole(stack.RoleGateway, kubernetes.RoleSelector{Selector: "app=gw"}),
		kubernetes.WithRole(stack.RoleModel, kubernetes.RoleSelector{Deployment: "model"}),
		kubernetes.WithLogger(testLogger(t))))
	image := func(ns, name string) string {
		d := must[*appsv1.Deployment](t)(cli.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}))
		return d.Spec.Template.Spec.Containers[0].Image
	}
	quarter := intstr.FromString("25%")
	change := kubernetes.RolloutChange{Image: "aiuptime/model:v2", Run: "rollout-test", MaxSurge: &quarter, MaxUnavailable: &quarter}

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			fn   func() error
		}{
			{"deployment in another namespace", func() error { return st.OwnsDeployment(ctx, "rollout-other", "model", stack.RoleModel) }},
			{"not the deployment the role names", func() error {
				_, err := st.RollDeployment(ctx, stack.RoleModel, change, kubernetes.RolloutDeployment("stray"))
				return err
			}},
			{"pods not matching the role's selector", func() error {
				_, err := st.RollDeployment(ctx, stack.RoleGateway, change, kubernetes.RolloutDeployment("stray"))
				return err
			}},
			{"role not of the stack", func() error {
				_, err := st.RollDeployment(ctx, stack.RoleMonitor, change)
				return err
			}},
			{"undo of a deployment not the role's", func() error {
				_, err := st.UndoRollout(ctx, stack.RoleModel, 0, "test", kubernetes.RolloutDeployment("gw"))
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.fn()
				if !errors.Is(err, stack.ErrNotOwned) {
					t.Errorf("err = %v, want ErrNotOwned", err)
				}
				t.Logf("%v", err)
			})
		}
		if got := image(f.ns, "stray"); got != "aiuptime/stray:dev" {
			t.Errorf("stray's image %s after refused rollouts", got)
		}
		if got := image("rollout-other", "model"); got != "aiuptime/model:dev" {
			t.Errorf("other namespace's model image %s after refused rollouts", got)
		}
	})

	if _, err := st.UndoRollout(ctx, stack.RoleModel, 0, "nothing to undo yet"); !errors.Is(err, kubernetes.ErrNoRevision) {
		t.Errorf("undo with one revision: %v, want ErrNoRevision", err)
	}

	check := func(t *testing.T, what string, r *kubernetes.RolloutResult) {
		t.Helper()
		if r.RevisionAfter <= r.RevisionBefore || r.ReplicaSet == "" || r.Replicas != replicas {
			t.Errorf("%s: revision %d -> %d, replicaset %q, %d replicas", what, r.RevisionBefore, r.RevisionAfter, r.ReplicaSet, r.Replicas)
		}
		if len(r.NewPods) != replicas || len(r.OldPods) != replicas {
			t.Errorf("%s: %d new and %d old pods, want %d each", what, len(r.NewPods), len(r.OldPods), replicas)
		}
		for _, p := range r.NewPods {
			if p.Ready.IsZero() {
				t.Errorf("%s: new pod %s never seen ready", what, p.Name)
			}
		}
		if r.ReadyP50 > r.ReadyP95 || r.ReadyP95 > r.ReadyMax || r.ReadyMax > r.Duration {
			t.Errorf("%s: ready p50 %v p95 %v max %v, rollout %v", what, r.ReadyP50, r.ReadyP95, r.ReadyMax, r.Duration)
		}
		first, last := r.OldPods[0].Deleted, r.OldPods[len(r.OldPods)-1].Deleted
		t.Logf("%s of %d replicas: %v (revision %d -> %d, replicaset %s); per-pod ready p50 %v p95 %v max %v; old pods deleted from +%v to +%v",
			what, r.Replicas, r.Duration.Round(time.Millisecond), r.RevisionBefore, r.RevisionAfter, r.ReplicaSet,
			r.ReadyP50.Round(time.Millisecond), r.ReadyP95.Round(time.Millisecond), r.ReadyMax.Round(time.Millisecond),
			first.Sub(r.Start).Round(time.Millisecond), last.Sub(r.Start).Round(time.Millisecond))
	}

	rolled := must[*kubernetes.RolloutResult](t)(st.RollDeployment(ctx, stack.RoleModel, change, kubernetes.RolloutTimeout(time.Minute)))
	check(t, "rollout", rolled)
	d := must[*appsv1.Deployment](t)(cli.AppsV1().Deployments(f.ns).Get(ctx, "model", metav1.GetOptions{}))
	if got := d.Spec.Template.Spec.Containers[0].Image; got != change.Image || d.Spec.Template.Annotations[kubernetes.AnnotationRollout] != change.Run {
		t.Errorf("after the rollout: image %s, annotations %v", got, d.Spec.Template.Annotations)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxSurge.String() != "25%" || ru.MaxUnavailable.String() != "25%" {
		t.Errorf("strategy %+v", d.Spec.Strategy)
	}

	const reason = "analysis failed: error rate 0.5 above 0.01"
	undone := must[*kubernetes.RolloutResult](t)(st.UndoRollout(ctx, stack.RoleModel, 0, reason, kubernetes.RolloutTimeout(time.Minute)))
	check(t, "undo", undone)
	if u := undone.Undo; u == nil || u.Reason != reason || u.ToRevision != rolled.RevisionBefore || u.At.Before(rolled.End) {
		t.Errorf("undo record %+v, want reason %q, to revision %d, after %v", u, reason, rolled.RevisionBefore, rolled.End)
	}
	if undone.RevisionBefore != rolled.RevisionAfter {
		t.Errorf("undo from revision %d, want %d", undone.RevisionBefore, rolled.RevisionAfter)
	}
	d = must[*appsv1.Deployment](t)(cli.AppsV1().Deployments(f.ns).Get(ctx, "model", metav1.GetOptions{}))
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "aiuptime/model:dev" {
		t.Errorf("image after undo %s, want aiuptime/model:dev", got)
	}
	if cause := d.Annotations[kubernetes.AnnotationChangeCause]; !strings.HasSuffix(cause, reason) {
		t.Errorf("change cause %q, want the reason", cause)
	}
}
