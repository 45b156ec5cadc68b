package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/aiuptime/aiuptime/stack"
)

// UndoReplicas is the undo function of every lifecycle operation: scale
// the pod's Deployment back to the replica count it had (after a stop) and
// wait until that many replicas are ready again.
const UndoReplicas = "kubernetes/replicas"

// AnnotationDeletionCost is the ReplicaSet controller's pod-deletion-cost
// annotation: of pods equally ready, the lowest cost is deleted first on a
// scale-down.
const AnnotationDeletionCost = "controller.kubernetes.io/pod-deletion-cost"

// DefaultUndoTimeout bounds an undo's wait for ready replicas when its
// context has no deadline.
const DefaultUndoTimeout = 3 * time.Minute

// pollInterval is how often readiness is polled.
const pollInterval = 200 * time.Millisecond

// replicasState is what UndoReplicas needs; it holds no secret.
type replicasState struct {
	Conn      Conn   `json:"conn"`
	Namespace string `json:"namespace"`
	// Pod and PodUID name the pod acted on (for messages).
	Pod    string       `json:"pod"`
	PodUID apitypes.UID `json:"pod_uid,omitempty"`
	Role   stack.Role   `json:"role"`
	Select RoleSelector `json:"select"`
	// Deployment owns the pod ("" for a pod no Deployment owns: then
	// nothing brings it back and the undo has nothing to do).
	Deployment string `json:"deployment,omitempty"`
	// Replicas is the Deployment's spec.replicas before the operation.
	Replicas int32 `json:"replicas"`
	// Scale says the operation scaled the Deployment down: scale it back.
	Scale bool `json:"scale,omitempty"`
}

func init() {
	stack.RegisterUndoState(UndoReplicas, func(ctx context.Context, _ stack.Scope, st replicasState) error {
		cli, err := st.Conn.Client()
		if err != nil {
			return err
		}
		return restoreReplicas(ctx, cli, st)
	})
}

// Check implements stack.UndoChecker: the namespace exists and still
// carries the scope's labels (the opt-in label) and the Deployment's pods
// match the role's journaled selector. A Deployment, namespace or
// kubeconfig file that is gone counts as undone, as does a pod that no
// Deployment owned.
func (st replicasState) Check(ctx context.Context, sc stack.Scope) error {
	if st.Namespace == "" {
		return stack.Untrusted("kubernetes state names no namespace")
	}
	if st.Deployment == "" {
		return stack.ErrGone // nothing to bring back
	}
	if err := checkScopeNamespace(ctx, st.Conn, st.Namespace, sc); err != nil {
		return err
	}
	cli, err := st.Conn.Client()
	if err != nil {
		return err
	}
	d, err := cli.AppsV1().Deployments(st.Namespace).Get(ctx, st.Deployment, metav1.GetOptions{})
	if isNotFound(err) {
		return stack.ErrGone
	}
	if err != nil {
		return fmt.Errorf("deployment %s/%s: %w", st.Namespace, st.Deployment, err)
	}
	sel, err := resolveSelector(ctx, cli, st.Namespace, st.Select)
	if err != nil {
		return stack.Untrusted("role %s: %v", st.Role, err)
	}
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		return stack.Untrusted("deployment %s/%s: its pods do not match role %s's %s", st.Namespace, st.Deployment, st.Role, st.Select)
	}
	return nil
}

// checkScopeNamespace is the part of every journaled state's Check that
// is about the namespace: it exists, still opts in and carries the
// scope's labels. A cluster or namespace that is gone is stack.ErrGone.
func checkScopeNamespace(ctx context.Context, conn Conn, namespace string, sc stack.Scope) error {
	if namespace == "" {
		return stack.Untrusted("kubernetes state names no namespace")
	}
	if conn.Gone() {
		return stack.ErrGone // the cluster, and so what was in it, is gone
	}
	cli, err := conn.Client()
	if err != nil {
		return err
	}
	ns, err := cli.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if isNotFound(err) {
		return stack.ErrGone
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", namespace, err)
	}
	if ns.Labels[LabelDrill] != LabelDrillEnabled {
		return stack.Untrusted("namespace %s no longer carries %s=%s", namespace, LabelDrill, LabelDrillEnabled)
	}
	if err := sc.CarriesLabels(ns.Labels); err != nil {
		return fmt.Errorf("namespace %s: %w", namespace, err)
	}
	return nil
}

// Act implements stack.Lifecycle, on the service's pod (its ownership
// re-proved first):
//
//   - OpKill deletes the pod with grace period 0 (SIGKILL, like
//     `kubectl delete pod --grace-period=0 --force`); only SIGKILL: other
//     signals need exec in the pod, which this provider does not offer.
//   - OpRestart deletes the pod with Timeout as its grace period (0: the
//     pod's own terminationGracePeriodSeconds). There is no restart in
//     place: the pod's controller (Deployment, ReplicaSet, StatefulSet)
//     brings a new pod, which takes the service's name (see Stack).
//   - OpStop scales the pod's Deployment down by one after marking the pod
//     the cheapest to delete (pod-deletion-cost), so the ReplicaSet removes
//     this pod and brings none back. The ReplicaSet deletes it with the
//     pod's own terminationGracePeriodSeconds: Timeout does not apply. Of
//     pods not equally ready the controller deletes the less ready first;
//     Act then fails, saying the marked pod was not the one deleted.
//     A pod not owned by a Deployment is refused: deleting it is a restart
//     when a controller owns it and a removal with no way back when none
//     does. The undo scales the Deployment back.
//   - OpStart, OpPause, OpUnpause and OpRemove are unsupported (no kubelet
//     API for them; start is what the undo does).
func (s *Stack) Act(ctx context.Context, service string, a stack.Action) error {
	svc, pod, err := s.lookup(ctx, service)
	if err != nil {
		return err
	}
	if err := s.OwnsPod(ctx, pod.Namespace, pod.Name, svc.Role); err != nil {
		return fmt.Errorf("%s %s: %w", a.Op, service, err)
	}
	ref := pod.Namespace + "/" + pod.Name
	switch a.Op {
	case stack.OpKill:
		if a.Signal != 0 && a.Signal != unix.SIGKILL {
			return stack.Unsupported(Kind, fmt.Sprintf("kill %s with %s (only SIGKILL: a pod delete with grace 0)", service, unix.SignalName(a.Signal)))
		}
		err = s.deletePod(ctx, pod, ptr(int64(0)))
	case stack.OpRestart:
		err = s.deletePod(ctx, pod, grace(a.Timeout))
	case stack.OpStop:
		err = s.scaleDownWith(ctx, pod)
	default:
		return stack.Unsupported(Kind, fmt.Sprintf("%s %s", a.Op, service))
	}
	if err != nil {
		return fmt.Errorf("kubernetes %s %s (pod %s): %w", a.Op, service, ref, err)
	}
	s.log.Info("pod acted on", "op", a.Op, "service", service, "pod", ref)
	return nil
}

func ptr[T any](v T) *T { return &v }

// grace is the grace period of a delete: d rounded up to seconds, nil (the
// pod's own) for 0.
func grace(d time.Duration) *int64 {
	if d <= 0 {
		return nil
	}
	return ptr(int64(math.Ceil(d.Seconds())))
}

// deletePod deletes exactly this pod (a UID precondition: never a
// same-named successor).
func (s *Stack) deletePod(ctx context.Context, pod corev1.Pod, grace *int64) error {
	uid := pod.UID
	return s.cli.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: grace, Preconditions: &metav1.Preconditions{UID: &uid}})
}

// deploymentOf returns the Deployment that owns pod through its
// ReplicaSet, nil when none does.
func deploymentOf(ctx context.Context, cli kclient.Interface, pod corev1.Pod) (*appsv1.Deployment, error) {
	rsRef := metav1.GetControllerOf(&pod)
	if rsRef == nil || rsRef.Kind != "ReplicaSet" {
		return nil, nil
	}
	rs, err := cli.AppsV1().ReplicaSets(pod.Namespace).Get(ctx, rsRef.Name, metav1.GetOptions{})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("replicaset %s/%s: %w", pod.Namespace, rsRef.Name, err)
	}
	dRef := metav1.GetControllerOf(rs)
	if dRef == nil || dRef.Kind != "Deployment" {
		return nil, nil
	}
	d, err := cli.AppsV1().Deployments(pod.Namespace).Get(ctx, dRef.Name, metav1.GetOptions{})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", pod.Namespace, dRef.Name, err)
	}
	return d, nil
}

// scaleDownWith scales the pod's Deployment down by one, the pod marked
// the one to delete, and waits until the ReplicaSet has deleted it.
func (s *Stack) scaleDownWith(ctx context.Context, pod corev1.Pod) error {
	d, err := deploymentOf(ctx, s.cli, pod)
	if err != nil {
		return err
	}
	if d == nil {
		return stack.Unsupported(Kind, fmt.Sprintf("stop pod %s/%s, which no Deployment owns (a delete would restart or remove it; use kill or restart)", pod.Namespace, pod.Name))
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, AnnotationDeletionCost, strconv.Itoa(math.MinInt32))
	if _, err := s.cli.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, apitypes.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("mark for deletion: %w", err)
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := s.cli.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n := replicas(cur)
		if n == 0 {
			return fmt.Errorf("deployment %s is already at 0 replicas", d.Name)
		}
		cur.Spec.Replicas = ptr(n - 1)
		_, err = s.cli.AppsV1().Deployments(d.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
		return err
	}); err != nil {
		// Unmark the pod, or the next scale-down would pick it.
		unmark := fmt.Sprintf(`{"metadata":{"annotations":{%q:null}}}`, AnnotationDeletionCost)
		if _, uerr := s.cli.CoreV1().Pods(pod.Namespace).Patch(context.WithoutCancel(ctx), pod.Name, apitypes.MergePatchType, []byte(unmark), metav1.PatchOptions{}); uerr != nil {
			err = errors.Join(err, fmt.Errorf("unmark pod %s: %w", pod.Name, uerr))
		}
		return fmt.Errorf("scale deployment %s/%s down: %w", d.Namespace, d.Name, err)
	}
	// The ReplicaSet prefers a pod that is not ready over our marked one:
	// say so rather than report a stop of the wrong pod.
	err = wait.PollUntilContextTimeout(ctx, pollInterval, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := s.cli.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if isNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return p.UID != pod.UID || p.DeletionTimestamp != nil, nil
	})
	if err != nil {
		return fmt.Errorf("deployment %s/%s scaled down, but pod %s not deleted by its ReplicaSet: %w", d.Namespace, d.Name, pod.Name, err)
	}
	return nil
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// RunState implements stack.Lifecycle, from the pod's phase and
// conditions: Running when the phase is Running and every container runs;
// Restarting when a container waits to restart (CrashLoopBackOff) or has
// restarted and is not ready; Status is the phase in lower case, with
// "/ready" or "/not-ready" for a running pod; ExitCode is the last
// termination's of the first container not running.
func (s *Stack) RunState(ctx context.Context, service string) (stack.RunState, error) {
	_, pod, err := s.lookup(ctx, service)
	if err != nil {
		return stack.RunState{}, err
	}
	return runState(&pod), nil
}

func runState(p *corev1.Pod) stack.RunState {
	rs := stack.RunState{Status: strings.ToLower(string(p.Status.Phase))}
	running := p.Status.Phase == corev1.PodRunning
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			running = false
		}
		if w := cs.State.Waiting; w != nil && (w.Reason == "CrashLoopBackOff" || cs.RestartCount > 0) {
			rs.Restarting = true
		}
		if t := cs.State.Terminated; t != nil && rs.ExitCode == 0 {
			rs.ExitCode = int(t.ExitCode)
		} else if t := cs.LastTerminationState.Terminated; t != nil && cs.State.Running == nil && rs.ExitCode == 0 {
			rs.ExitCode = int(t.ExitCode)
		}
	}
	rs.Running = running
	if running {
		if podReady(p) {
			rs.Status += "/ready"
		} else {
			rs.Status += "/not-ready"
		}
	}
	if p.DeletionTimestamp != nil {
		rs.Status = "terminating"
	}
	return rs
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// UndoOf implements stack.Lifecycle: the undo (UndoReplicas) scales the
// pod's Deployment back to the replicas it has now (after a stop) and
// waits until that many are ready; for a pod no Deployment owns it does
// nothing (its controller, if any, brings the pod back by itself).
func (s *Stack) UndoOf(ctx context.Context, service string, a stack.Action) (stack.Undo, error) {
	svc, pod, err := s.lookup(ctx, service)
	if err != nil {
		return stack.Undo{}, err
	}
	st := replicasState{Conn: s.o.conn, Namespace: pod.Namespace, Pod: pod.Name, PodUID: pod.UID,
		Role: svc.Role, Select: s.o.roles[svc.Role], Scale: a.Op == stack.OpStop}
	d, err := deploymentOf(ctx, s.cli, pod)
	if err != nil {
		return stack.Undo{}, fmt.Errorf("undo of %s %s: %w", a.Op, service, err)
	}
	if d != nil {
		st.Deployment, st.Replicas = d.Name, replicas(d)
	}
	b, err := json.Marshal(st)
	return stack.Undo{Func: UndoReplicas, State: b}, err
}

// restoreReplicas scales the Deployment back up to st.Replicas when the
// operation scaled it down (never down: a later scale-up by someone else
// stands), then waits until st.Replicas replicas are ready and updated.
func restoreReplicas(ctx context.Context, cli kclient.Interface, st replicasState) error {
	if st.Deployment == "" {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultUndoTimeout)
		defer cancel()
	}
	ref := st.Namespace + "/" + st.Deployment
	if st.Scale {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := cli.AppsV1().Deployments(st.Namespace).Get(ctx, st.Deployment, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if replicas(d) >= st.Replicas {
				return nil
			}
			d.Spec.Replicas = ptr(st.Replicas)
			_, err = cli.AppsV1().Deployments(st.Namespace).Update(ctx, d, metav1.UpdateOptions{})
			return err
		})
		if isNotFound(err) {
			return nil // removed since: gone counts as reverted
		}
		if err != nil {
			return fmt.Errorf("scale deployment %s back to %d: %w", ref, st.Replicas, err)
		}
	}
	var last string
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		d, err := cli.AppsV1().Deployments(st.Namespace).Get(ctx, st.Deployment, metav1.GetOptions{})
		if isNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		want := min(st.Replicas, replicas(d))
		last = fmt.Sprintf("%d of %d ready", d.Status.ReadyReplicas, want)
		return d.Status.ReadyReplicas >= want && d.Status.AvailableReplicas >= want, nil
	})
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("deployment %s: replicas not back (%s): %w", ref, last, err)
	}
	if err != nil {
		return fmt.Errorf("deployment %s: %w", ref, err)
	}
	return nil
}
