package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
)

// applyChange sets change on d's template and strategy.
func applyChange(d *appsv1.Deployment, change RolloutChange) error {
	cs := d.Spec.Template.Spec.Containers
	i := 0
	if change.Container != "" {
		i = slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == change.Container })
	}
	if i < 0 || i >= len(cs) {
		return fmt.Errorf("deployment %s/%s has no container %q", d.Namespace, d.Name, change.Container)
	}
	if change.Image != "" {
		cs[i].Image = change.Image
	}
	if change.Args != nil {
		cs[i].Args = slices.Clone(change.Args)
	}
	if len(change.AppendArgs) > 0 {
		cs[i].Args = append(slices.Clone(cs[i].Args), change.AppendArgs...)
	}
	if change.Run != "" {
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		d.Spec.Template.Annotations[AnnotationRollout] = change.Run
	}
	if change.MaxSurge != nil || change.MaxUnavailable != nil {
		d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
		if d.Spec.Strategy.RollingUpdate == nil {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if change.MaxSurge != nil {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(*change.MaxSurge)
		}
		if change.MaxUnavailable != nil {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(*change.MaxUnavailable)
		}
	}
	return nil
}

// validSurge checks that maxSurge and maxUnavailable are numbers or
// percentages, not negative (the API server checks the rest, such as both
// being zero).
func validSurge(c RolloutChange) error {
	for _, f := range []struct {
		name string
		v    *intstr.IntOrString
	}{{"max surge", c.MaxSurge}, {"max unavailable", c.MaxUnavailable}} {
		if f.v == nil {
			continue
		}
		n, err := intstr.GetScaledValueFromIntOrPercent(f.v, 100, true)
		if err != nil {
			return fmt.Errorf("%s %s: %w", f.name, f.v, err)
		}
		if n < 0 {
			return fmt.Errorf("%s %s: negative", f.name, f.v)
		}
	}
	return nil
}

// deploymentGetter is the one call waitRollout needs.
type deploymentGetter interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*appsv1.Deployment, error)
}

// waitRollout polls the Deployment until its rollout is complete, the way
// `kubectl rollout status` decides (rolloutStatus). It returns the last
// Deployment read, nil if none was.
func waitRollout(ctx context.Context, dc deploymentGetter, name string, timeout time.Duration) (*appsv1.Deployment, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var last *appsv1.Deployment
	var why string
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		d, err := dc.Get(ctx, name, metav1.GetOptions{})
		if isNotFound(err) {
			return false, err
		}
		if err != nil { // transient: poll again until the deadline
			why = err.Error()
			return false, nil
		}
		last = d
		done, msg, err := rolloutStatus(d)
		why = msg
		return done, err
	})
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return last, fmt.Errorf("rollout not complete (%s): %w", why, err)
	}
	return last, err
}

// rolloutStatus is kubectl's DeploymentStatusViewer: done, or what is
// awaited, or ErrProgressDeadline.
func rolloutStatus(d *appsv1.Deployment) (bool, string, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return false, fmt.Sprintf("generation %d not yet observed (%d)", d.Generation, d.Status.ObservedGeneration), nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == timedOutReason {
			return false, c.Message, fmt.Errorf("%w: %s", ErrProgressDeadline, c.Message)
		}
	}
	st, want := d.Status, replicas(d)
	switch {
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d new replicas updated", st.UpdatedReplicas, want), nil
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas), nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return false, fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas), nil
	}
	return true, "complete", nil
}

// revision is the revision annotation's value, 0 when absent or bad.
func revision(ann map[string]string) int64 {
	n, err := strconv.ParseInt(ann[AnnotationRevision], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// replicaSetOf returns the ReplicaSet d controls with revision rev, or for
// rev 0 the one of the highest revision below d's current one.
func (s *Stack) replicaSetOf(ctx context.Context, d *appsv1.Deployment, rev int64) (*appsv1.ReplicaSet, int64, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, 0, fmt.Errorf("deployment %s/%s: selector: %w", d.Namespace, d.Name, err)
	}
	rl, err := s.cli.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, 0, fmt.Errorf("deployment %s/%s: list replicasets: %w", d.Namespace, d.Name, err)
	}
	cur := revision(d.Annotations)
	var best *appsv1.ReplicaSet
	var bestRev int64
	for i := range rl.Items {
		rs := &rl.Items[i]
		if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
			continue
		}
		r := revision(rs.Annotations)
		switch {
		case rev > 0 && r == rev:
			return rs, r, nil
		case rev == 0 && r < cur && r > bestRev:
			best, bestRev = rs, r
		}
	}
	if best == nil {
		if rev == 0 {
			return nil, 0, fmt.Errorf("deployment %s/%s: no revision before %d: %w", d.Namespace, d.Name, cur, ErrNoRevision)
		}
		return nil, 0, fmt.Errorf("deployment %s/%s: no replicaset of revision %d: %w", d.Namespace, d.Name, rev, ErrNoRevision)
	}
	return best, bestRev, nil
}

// measure fills the per-pod times: pods of the new ReplicaSet (hash) that
// were not there before the rollout are new, pods of other ReplicaSets
// that were deleted are old.
func (r *RolloutResult) measure(pods []podSeen, hash string) {
	var ready []time.Duration
	for _, p := range pods {
		pt := PodTiming{Name: p.name, Created: p.created, Ready: p.ready, Deleted: p.deleted, Gone: p.gone}
		switch {
		case p.hash == hash && !p.before:
			if !p.ready.IsZero() {
				pt.ReadyAfter = max(p.ready.Sub(p.created), 0)
				ready = append(ready, pt.ReadyAfter)
			}
			r.NewPods = append(r.NewPods, pt)
		case p.hash != hash && (!p.deleted.IsZero() || !p.gone.IsZero()):
			r.OldPods = append(r.OldPods, pt)
		}
	}
	slices.SortFunc(r.NewPods, func(a, b PodTiming) int { return a.Created.Compare(b.Created) })
	slices.SortFunc(r.OldPods, func(a, b PodTiming) int { return firstOf(a.Deleted, a.Gone).Compare(firstOf(b.Deleted, b.Gone)) })
	slices.Sort(ready)
	r.ReadyP50, r.ReadyP95, r.ReadyMax = quantile(ready, 0.5), quantile(ready, 0.95), quantile(ready, 1)
}

func firstOf(a, b time.Time) time.Time {
	if a.IsZero() {
		return b
	}
	return a
}

// quantile is the nearest-rank q-quantile of sorted d (0 for none).
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d))+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}
