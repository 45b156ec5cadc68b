package kubernetes

import (
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
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
