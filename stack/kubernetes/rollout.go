package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/aiuptime/aiuptime/stack"
)

// AnnotationRollout is the pod-template annotation a rollout sets to the
// drill's run: it names who rolled the Deployment, and a change of run
// alone is a new revision.
const AnnotationRollout = "aiuptime.io/rollout"

// AnnotationRevision is the Deployment controller's revision annotation,
// on a Deployment and on each of its ReplicaSets.
const AnnotationRevision = "deployment.kubernetes.io/revision"

// AnnotationChangeCause is the Deployment annotation `kubectl rollout
// history` shows as CHANGE-CAUSE; UndoRollout sets it to its reason (the
// controller copies it to the new ReplicaSet).
const AnnotationChangeCause = "kubernetes.io/change-cause"

// DefaultRolloutTimeout bounds the wait for a rollout when the context has
// no deadline and no RolloutTimeout is given. A stalled rollout is noticed
// earlier when the Deployment's progressDeadlineSeconds (600 s by default)
// runs out.
const DefaultRolloutTimeout = 10 * time.Minute

// timedOutReason is the Progressing condition's reason when a Deployment
// exceeded its progress deadline (the controller's TimedOutReason).
const timedOutReason = "ProgressDeadlineExceeded"

// Errors a rollout's caller branches on.
var (
	// ErrProgressDeadline means the Deployment controller gave up: its
	// Progressing condition has reason ProgressDeadlineExceeded.
	ErrProgressDeadline = errors.New("deployment exceeded its progress deadline")
	// ErrNoRevision means UndoRollout found no ReplicaSet of the revision
	// asked for (or no revision before the current one).
	ErrNoRevision = errors.New("no such revision")
)

// RolloutChange is a rolling update: a new image and/or arguments for one
// container, the run that asks for it, and the strategy's surge and
// unavailability. Empty fields leave the Deployment as it is.
type RolloutChange struct {
	// Container names the container to change ("" for the first).
	Container string `json:"container,omitempty"`
	// Image is the container's new image.
	Image string `json:"image,omitempty"`
	// Args are the container's new arguments (nil: unchanged; an empty,
	// non-nil slice clears them).
	Args []string `json:"args,omitempty"`
	// AppendArgs are added after the container's arguments (after Args
	// when both are given): a plan's "extra server arguments".
	AppendArgs []string `json:"append_args,omitempty"`
	// Run is the value of AnnotationRollout on the pod template.
	Run string `json:"run,omitempty"`
	// MaxSurge and MaxUnavailable set the RollingUpdate strategy (an
	// absolute number or a percentage such as "25%"); giving either makes
	// the strategy RollingUpdate.
	MaxSurge       *intstr.IntOrString `json:"max_surge,omitempty"`
	MaxUnavailable *intstr.IntOrString `json:"max_unavailable,omitempty"`
}

// PodTiming is one pod of a rollout, with times as the harness's watch saw
// them (the API server's timestamps have a resolution of one second; a
// pod first seen already ready falls back to them).
type PodTiming struct {
	Name string `json:"name"`
	// Created is the pod's creation (first seen by the watch, or its
	// creationTimestamp when it existed before the rollout).
	Created time.Time `json:"created"`
	// Ready is when the pod was first seen Ready (zero: never).
	Ready time.Time `json:"ready,omitzero"`
	// ReadyAfter is Ready - Created, for new pods.
	ReadyAfter time.Duration `json:"ready_after,omitempty"`
	// Deleted is when its deletion was first seen (old pods), Gone when it
	// left the API server (zero if that came after the rollout ended).
	Deleted time.Time `json:"deleted,omitzero"`
	Gone    time.Time `json:"gone,omitzero"`
}

// RolloutUndo says why and when a rollout was a rollback.
type RolloutUndo struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	// ToRevision is the revision whose pod template was restored; the
	// Deployment's revision after the undo is a new, higher number.
	ToRevision int64 `json:"to_revision"`
}

// RolloutResult is what one rollout did and how long it took.
type RolloutResult struct {
	Namespace  string `json:"namespace"`
	Deployment string `json:"deployment"`
	Replicas   int32  `json:"replicas"`
	// Start is when the Deployment was changed, End when its rollout was
	// complete (as `kubectl rollout status` decides) or the wait failed.
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end"`
	Duration time.Duration `json:"duration"`
	// RevisionBefore and RevisionAfter are the Deployment's revision
	// annotation before the change and after the rollout.
	RevisionBefore int64 `json:"revision_before"`
	RevisionAfter  int64 `json:"revision_after"`
	// ReplicaSet is the new ReplicaSet (the one of RevisionAfter).
	ReplicaSet string `json:"replica_set,omitempty"`
	// NewPods are the pods of the new ReplicaSet created during the
	// rollout; OldPods the pods of other ReplicaSets it deleted.
	NewPods []PodTiming `json:"new_pods,omitempty"`
	OldPods []PodTiming `json:"old_pods,omitempty"`
	// ReadyP50, ReadyP95 and ReadyMax are over NewPods' ReadyAfter.
	ReadyP50 time.Duration `json:"ready_p50"`
	ReadyP95 time.Duration `json:"ready_p95"`
	ReadyMax time.Duration `json:"ready_max"`
	// Undo is set for a rollback (UndoRollout).
	Undo *RolloutUndo `json:"undo,omitempty"`
	// Analysis is set when a RolloutAnalysis check failed; Rollback is
	// then the automatic undo to RevisionBefore (nil if it could not start).
	Analysis *AnalysisFailure `json:"analysis,omitempty"`
	Rollback *RolloutResult   `json:"rollback,omitempty"`
}

type rolloutOptions struct {
	deployment string
	timeout    time.Duration
	analysis   *rolloutAnalysis
	before     func(stack.Undo) error
}

// RolloutOption configures RollDeployment and UndoRollout.
type RolloutOption func(*rolloutOptions) error

// RolloutDeployment names the Deployment to roll. Without it the role's
// Deployment is rolled: the one its RoleSelector names, or the only
// Deployment of the namespace whose pods match its selector. Either way the
// Deployment must be the role's (OwnsDeployment).
func RolloutDeployment(name string) RolloutOption {
	return func(o *rolloutOptions) error {
		if name == "" {
			return errors.New("rollout deployment: empty name")
		}
		o.deployment = name
		return nil
	}
}

// RolloutTimeout bounds the wait for the rollout (default: the context's
// deadline, else DefaultRolloutTimeout).
func RolloutTimeout(d time.Duration) RolloutOption {
	return func(o *rolloutOptions) error {
		if d <= 0 {
			return fmt.Errorf("rollout timeout %v: want > 0", d)
		}
		o.timeout = d
		return nil
	}
}

// OwnsDeployment returns nil when the Deployment namespace/name, re-read
// now, is in the stack's namespace (which still opts in) and is role's:
// the Deployment the role names, or one whose pod template matches the
// role's selector. Else an error wrapping stack.ErrNotOwned.
func (s *Stack) OwnsDeployment(ctx context.Context, namespace, name string, role stack.Role) error {
	_, err := s.ownedDeployment(ctx, namespace, name, role)
	return err
}

func (s *Stack) ownedDeployment(ctx context.Context, namespace, name string, role stack.Role) (*appsv1.Deployment, error) {
	ref := namespace + "/" + name
	if namespace != s.o.namespace {
		return nil, fmt.Errorf("deployment %s: in namespace %s, not the stack's %s: %w", ref, namespace, s.o.namespace, stack.ErrNotOwned)
	}
	rs, ok := s.o.roles[role]
	if !ok {
		return nil, fmt.Errorf("deployment %s: the stack has no role %s: %w", ref, role, stack.ErrNotOwned)
	}
	if rs.Deployment != "" && rs.Deployment != name {
		return nil, fmt.Errorf("deployment %s: role %s is deployment %s: %w", ref, role, rs.Deployment, stack.ErrNotOwned)
	}
	if err := s.checkNamespace(ctx); err != nil {
		return nil, fmt.Errorf("deployment %s: %w: %w", ref, stack.ErrNotOwned, err)
	}
	d, err := s.cli.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w: %w", ref, stack.ErrNotOwned, err)
	}
	sel, err := s.selector(ctx, role)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w: %w", ref, stack.ErrNotOwned, err)
	}
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		return nil, fmt.Errorf("deployment %s: its pods' labels %s do not match role %s's selector %s: %w",
			ref, labels.Set(d.Spec.Template.Labels), role, sel, stack.ErrNotOwned)
	}
	return d, nil
}

// deploymentName is the Deployment a rollout of role acts on.
func (s *Stack) deploymentName(ctx context.Context, role stack.Role, o rolloutOptions) (string, error) {
	if o.deployment != "" {
		return o.deployment, nil
	}
	rs, ok := s.o.roles[role]
	if !ok {
		return "", fmt.Errorf("rollout: the stack has no role %s: %w", role, stack.ErrNotOwned)
	}
	if rs.Deployment != "" {
		return rs.Deployment, nil
	}
	sel, err := s.selector(ctx, role)
	if err != nil {
		return "", fmt.Errorf("rollout of role %s: %w", role, err)
	}
	dl, err := s.cli.AppsV1().Deployments(s.o.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("rollout of role %s: list deployments in %s: %w", role, s.o.namespace, err)
	}
	var found []string
	for _, d := range dl.Items {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			found = append(found, d.Name)
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("rollout of role %s: %d Deployments in %s have pods matching %s (%v): name one with RolloutDeployment",
			role, len(found), s.o.namespace, sel, found)
	}
	return found[0], nil
}

// RollDeployment applies change to role's Deployment (see
// RolloutDeployment) and waits until its rollout is complete, as `kubectl
// set image` and `kubectl rollout status` do; it measures the rollout
// (RolloutResult). Ownership is re-proved first (OwnsDeployment).
//
// The wait ends when the controller observed the change
// (status.observedGeneration >= generation), every replica is updated and
// available, and no old replica is left. It fails with
// ErrProgressDeadline when the Progressing condition says the progress
// deadline was exceeded, and with the context's error on timeout; the
// result then holds what was measured so far.
//
// With RolloutAnalysis the caller's check judges the rollout while it
// progresses and for a window after; a failed check rolls the Deployment
// back to the revision it had (ErrRolledBack, rollout_analysis.go). With
// RolloutJournal the caller journals how to undo the rollout before the
// Deployment is changed (rollout_journal.go).
func (s *Stack) RollDeployment(ctx context.Context, role stack.Role, change RolloutChange, opts ...RolloutOption) (*RolloutResult, error) {
	if change.Image == "" && change.Args == nil && change.AppendArgs == nil && change.Run == "" {
		return nil, errors.New("rollout: the change sets no image, arguments or run")
	}
	if err := validSurge(change); err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	res, err := s.roll(ctx, role, opts, nil, func(d *appsv1.Deployment) error { return applyChange(d, change) })
	var af *AnalysisFailure
	if res == nil || !errors.As(err, &af) {
		return res, err
	}
	return s.rollBack(ctx, role, change, res, af, opts)
}

// UndoRollout rolls role's Deployment back to the pod template of
// toRevision (0: the revision before the current one), as `kubectl rollout
// undo --to-revision` does: the template of the ReplicaSet of that
// revision, without its pod-template-hash label, becomes the Deployment's,
// and the rollout is waited for and measured as by RollDeployment. reason
// (required) is recorded with the time in the result's Undo. The
// Deployment's revision after the undo is a new number: the controller
// renumbers the restored ReplicaSet.
func (s *Stack) UndoRollout(ctx context.Context, role stack.Role, toRevision int64, reason string, opts ...RolloutOption) (*RolloutResult, error) {
	if reason == "" {
		return nil, errors.New("rollout undo: a reason is required")
	}
	if toRevision < 0 {
		return nil, fmt.Errorf("rollout undo: revision %d: want >= 0", toRevision)
	}
	undo := &RolloutUndo{Reason: reason}
	return s.roll(ctx, role, opts, undo, func(d *appsv1.Deployment) error {
		rs, rev, err := s.replicaSetOf(ctx, d, toRevision)
		if err != nil {
			return err
		}
		tpl := rs.Spec.Template.DeepCopy()
		delete(tpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		if apiequality.Semantic.DeepEqual(*tpl, d.Spec.Template) {
			return fmt.Errorf("revision %d (replicaset %s) is already the deployment's pod template", rev, rs.Name)
		}
		d.Spec.Template = *tpl
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[AnnotationChangeCause] = "rollback to revision " + strconv.FormatInt(rev, 10) + ": " + reason
		undo.ToRevision = rev
		return nil
	})
}

func buildRolloutOptions(opts []RolloutOption) (rolloutOptions, error) {
	var o rolloutOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, fmt.Errorf("rollout: %w", err)
		}
	}
	return o, nil
}

// roll re-proves ownership, changes the Deployment with mutate (retried on
// conflicts), waits for its rollout and measures it.
func (s *Stack) roll(ctx context.Context, role stack.Role, opts []RolloutOption, undo *RolloutUndo, mutate func(*appsv1.Deployment) error) (*RolloutResult, error) {
	o, err := buildRolloutOptions(opts)
	if err != nil {
		return nil, err
	}
	name, err := s.deploymentName(ctx, role, o)
	if err != nil {
		return nil, err
	}
	what := "rollout"
	if undo != nil {
		what = "rollout undo"
	}
	ns := s.o.namespace
	ref := ns + "/" + name
	d0, err := s.ownedDeployment(ctx, ns, name, role)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if d0.Spec.Paused {
		return nil, fmt.Errorf("%s of deployment %s: it is paused", what, ref)
	}
	sel, err := metav1.LabelSelectorAsSelector(d0.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil, fmt.Errorf("%s of deployment %s: selector %v: %v", what, ref, d0.Spec.Selector, err)
	}
	res := &RolloutResult{Namespace: ns, Deployment: name, Replicas: replicas(d0), RevisionBefore: revision(d0.Annotations)}

	// Watch the Deployment's pods from before the change: old pods are
	// gone by the end, and new pods' times are best taken as they happen.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	tr, err := watchPods(wctx, s.cli, ns, sel.String())
	if err != nil {
		return nil, fmt.Errorf("%s of deployment %s: %w", what, ref, err)
	}

	if o.before != nil {
		if err := s.journalRollout(ctx, o.before, d0, role); err != nil {
			return nil, fmt.Errorf("%s of deployment %s: before the change: %w", what, ref, err)
		}
	}
	res.Start = time.Now()
	if undo != nil {
		undo.At = res.Start
		res.Undo = undo
	}
	if err := s.updateDeployment(ctx, d0, mutate); err != nil {
		return nil, fmt.Errorf("%s of deployment %s: update: %w", what, ref, err)
	}
	s.log.Info("deployment changed, waiting for its rollout", "deployment", ref, "what", what, "revision_before", res.RevisionBefore)

	timeout := o.timeout
	if _, ok := ctx.Deadline(); !ok && timeout == 0 {
		timeout = DefaultRolloutTimeout
	}
	d, werr := waitAnalysed(ctx, s.cli.AppsV1().Deployments(ns), name, timeout, o.analysis)
	res.End = time.Now()
	res.Duration = res.End.Sub(res.Start)
	stopWatch()
	pods := tr.stop()
	if d != nil {
		res.RevisionAfter = revision(d.Annotations)
		res.Replicas = replicas(d)
		if rs, _, err := s.replicaSetOf(context.WithoutCancel(ctx), d, res.RevisionAfter); err == nil {
			res.ReplicaSet = rs.Name
			res.measure(pods, rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey])
		} else if werr == nil {
			werr = err
		}
	}
	if werr != nil {
		return res, fmt.Errorf("%s of deployment %s: %w", what, ref, werr)
	}
	s.log.Info("rollout complete", "deployment", ref, "what", what, "duration", res.Duration,
		"revision", res.RevisionAfter, "replicaset", res.ReplicaSet, "ready_p50", res.ReadyP50, "ready_p95", res.ReadyP95)
	return res, nil
}

// updateDeployment applies mutate to the Deployment d0 names, re-read
// and retried on conflicts; a Deployment replaced meanwhile (another UID)
// is not ours to change.
func (s *Stack) updateDeployment(ctx context.Context, d0 *appsv1.Deployment, mutate func(*appsv1.Deployment) error) error {
	dc := s.cli.AppsV1().Deployments(d0.Namespace)
	return retry.RetryOnConflict(conflictBackoff, func() error {
		d, err := dc.Get(ctx, d0.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.UID != d0.UID {
			return fmt.Errorf("deployment %s/%s was replaced (uid %s, was %s): %w", d0.Namespace, d0.Name, d.UID, d0.UID, stack.ErrNotOwned)
		}
		if err := mutate(d); err != nil {
			return err
		}
		_, err = dc.Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
}

// conflictBackoff retries an update that lost the race with the
// Deployment controller's own writes for about 10 s: retry.DefaultRetry's
// five tries in ~50 ms ran out on a busy 2-CPU host during a rollback.
var conflictBackoff = wait.Backoff{Steps: 12, Duration: 20 * time.Millisecond, Factor: 1.6, Jitter: 0.2, Cap: 2 * time.Second}
