package kubernetes

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestRolloutStatus checks the completion rule against the cases `kubectl
// rollout status` tells apart.
func TestRolloutStatus(t *testing.T) {
	dep := func(gen, observed int64, st appsv1.DeploymentStatus, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
		st.ObservedGeneration, st.Conditions = observed, conds
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(4))}, Status: st}
	}
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		done bool
		err  error
	}{
		{"not observed", dep(3, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 4, AvailableReplicas: 4}), false, nil},
		{"updating", dep(2, 2, appsv1.DeploymentStatus{Replicas: 5, UpdatedReplicas: 2, AvailableReplicas: 3}), false, nil},
		{"old replicas left", dep(2, 2, appsv1.DeploymentStatus{Replicas: 5, UpdatedReplicas: 4, AvailableReplicas: 4}), false, nil},
		{"not available", dep(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 4, AvailableReplicas: 3}), false, nil},
		{"complete", dep(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 4, AvailableReplicas: 4}), true, nil},
		{"progress deadline", dep(2, 2, appsv1.DeploymentStatus{Replicas: 5, UpdatedReplicas: 2},
			appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Reason: timedOutReason, Message: "ReplicaSet \"m-1\" has timed out progressing."}),
			false, ErrProgressDeadline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, msg, err := rolloutStatus(tc.d)
			if done != tc.done || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Errorf("done %v, err %v (%s); want %v, %v", done, err, msg, tc.done, tc.err)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.95, 95 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := quantile(d, tc.q); got != tc.want {
			t.Errorf("q%v = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile of none = %v", got)
	}
}

func TestValidSurge(t *testing.T) {
	pct, n, bad, neg := intstr.FromString("25%"), intstr.FromInt32(1), intstr.FromString("lots"), intstr.FromInt32(-1)
	for _, tc := range []struct {
		name string
		c    RolloutChange
		ok   bool
	}{
		{"percent and number", RolloutChange{MaxSurge: &pct, MaxUnavailable: &n}, true},
		{"unset", RolloutChange{}, true},
		{"not a percentage", RolloutChange{MaxSurge: &bad}, false},
		{"negative", RolloutChange{MaxUnavailable: &neg}, false},
	} {
		if err := validSurge(tc.c); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestApplyChangeArgs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before []string
		c      RolloutChange
		want   string
	}{
		{"extra args appended", []string{"--port", "8000"}, RolloutChange{AppendArgs: []string{"--error-rate", "0.5"}}, "--port 8000 --error-rate 0.5"},
		{"args replaced, then extra ones", []string{"--port", "8000"}, RolloutChange{Args: []string{"--port", "9000"}, AppendArgs: []string{"-v"}}, "--port 9000 -v"},
		{"args cleared", []string{"--port", "8000"}, RolloutChange{Args: []string{}}, ""},
		{"unchanged", []string{"--port", "8000"}, RolloutChange{Image: "x"}, "--port 8000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "m", Args: tc.before}}}}}}
			if err := applyChange(d, tc.c); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); got != tc.want {
				t.Errorf("args %q, want %q", got, tc.want)
			}
			if tc.c.AppendArgs != nil && len(tc.before) > 0 && tc.before[len(tc.before)-1] != "8000" {
				t.Errorf("the template's args were changed in place: %q", tc.before)
			}
		})
	}
}

// TestAnalysisPhases runs the analysis loop on its own: a check failing
// only after the rollout fails in the after phase; one that holds lets
// the window pass; the phase and reason are kept.
func TestAnalysisPhases(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failIn RolloutPhase
		want   RolloutPhase
	}{{"holds", "", ""}, {"fails after", PhaseAfter, PhaseAfter}} {
		t.Run(tc.name, func(t *testing.T) {
			calls := map[RolloutPhase]int{}
			a := &rolloutAnalysis{interval: 10 * time.Millisecond, after: 50 * time.Millisecond,
				check: func(_ context.Context, p RolloutPhase) error {
					calls[p]++
					if p == tc.failIn {
						return errors.New("error rate 50.0% > 5.0%")
					}
					return nil
				}}
			f := a.run(t.Context(), PhaseAfter, a.after)
			if (f == nil) != (tc.want == "") || (f != nil && (f.Phase != tc.want || f.Reason != "error rate 50.0% > 5.0%")) {
				t.Fatalf("failure %+v, want phase %q", f, tc.want)
			}
			if calls[PhaseAfter] == 0 {
				t.Errorf("the after phase never checked")
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	a := &rolloutAnalysis{interval: time.Millisecond, check: func(context.Context, RolloutPhase) error { return errors.New("late") }}
	if f := a.run(ctx, PhaseDuring, 0); f != nil {
		t.Errorf("a check after the rollout ended counted: %+v", f)
	}
}
