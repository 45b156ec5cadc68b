package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apitypes "k8s.io/apimachinery/pkg/types"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/stack"
)

// UndoRolloutFunc is the undo function of a rollout in progress (see
// RolloutJournal): put the Deployment's pod template back to the one of
// the ReplicaSet it had before the change, as `kubectl rollout undo
// --to-revision` does, and wait for that rollout.
const UndoRolloutFunc = "kubernetes/rollout"

// replayReason is the change cause a replayed rollout undo records.
const replayReason = "drill cleanup: the rollout was interrupted"

// rolloutState is what UndoRolloutFunc needs; it holds no secret (the
// template is read from the ReplicaSet, not journaled).
type rolloutState struct {
	Conn       Conn         `json:"conn"`
	Namespace  string       `json:"namespace"`
	Deployment string       `json:"deployment"`
	UID        apitypes.UID `json:"uid"`
	Role       stack.Role   `json:"role"`
	Select     RoleSelector `json:"select"`
	// Revision and ReplicaSet are the Deployment's before the change (the
	// ReplicaSet keeps its name when the controller renumbers it).
	Revision   int64        `json:"revision"`
	ReplicaSet string       `json:"replica_set"`
	RSUID      apitypes.UID `json:"replica_set_uid"`
}

func init() {
	stack.RegisterUndoState(UndoRolloutFunc, func(ctx context.Context, _ stack.Scope, st rolloutState) error {
		cli, err := st.Conn.Client()
		if err != nil {
			return err
		}
		return restoreTemplate(ctx, cli, st)
	})
}

// Check implements stack.UndoChecker: the namespace still opts in and
// carries the scope's labels, the Deployment is the one journaled (same
// UID) and its pods match the role's journaled selector. A Deployment,
// namespace or local cluster that is gone counts as undone.
func (st rolloutState) Check(ctx context.Context, sc stack.Scope) error {
	rs := replicasState{Conn: st.Conn, Namespace: st.Namespace, Role: st.Role, Select: st.Select, Deployment: st.Deployment}
	if st.Deployment == "" {
		return stack.Untrusted("kubernetes rollout state names no deployment")
	}
	if err := rs.Check(ctx, sc); err != nil {
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
	if d.UID != st.UID {
		return stack.ErrGone // replaced by another Deployment of the name: ours is gone
	}
	return nil
}

// journalRollout hands fn how to undo a rollout of d0 (before it starts).
func (s *Stack) journalRollout(ctx context.Context, fn func(stack.Undo) error, d0 *appsv1.Deployment, role stack.Role) error {
	rs, rev, err := s.replicaSetOf(ctx, d0, revision(d0.Annotations))
	if err != nil {
		return fmt.Errorf("the current replicaset: %w", err)
	}
	st := rolloutState{Conn: s.o.conn, Namespace: d0.Namespace, Deployment: d0.Name, UID: d0.UID, Role: role,
		Select: s.o.roles[role], Revision: rev, ReplicaSet: rs.Name, RSUID: rs.UID}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("rollout undo state: %w", err)
	}
	return fn(stack.Undo{Func: UndoRolloutFunc, State: b})
}

// restoreTemplate puts the journaled ReplicaSet's pod template back on
// the Deployment unless it is already there (the rollout never started,
// or was completed and undone), then waits for that rollout.
func restoreTemplate(ctx context.Context, cli kclient.Interface, st rolloutState) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultUndoTimeout)
		defer cancel()
	}
	ref := st.Namespace + "/" + st.Deployment
	dc := cli.AppsV1().Deployments(st.Namespace)
	d, err := dc.Get(ctx, st.Deployment, metav1.GetOptions{})
	if isNotFound(err) || (err == nil && d.UID != st.UID) {
		return nil // gone counts as undone
	}
	if err != nil {
		return fmt.Errorf("undo rollout of %s: %w", ref, err)
	}
	rs, err := cli.AppsV1().ReplicaSets(st.Namespace).Get(ctx, st.ReplicaSet, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("undo rollout of %s: replicaset %s of revision %d: %w", ref, st.ReplicaSet, st.Revision, err)
	}
	if c := metav1.GetControllerOf(rs); rs.UID != st.RSUID || c == nil || c.UID != st.UID {
		return fmt.Errorf("undo rollout of %s: replicaset %s is not the one journaled (uid %s, controller %v): %w",
			ref, st.ReplicaSet, rs.UID, c, stack.ErrUntrusted)
	}
	tpl := rs.Spec.Template.DeepCopy()
	delete(tpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if !apiequality.Semantic.DeepEqual(*tpl, d.Spec.Template) {
		d.Spec.Template = *tpl
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[AnnotationChangeCause] = fmt.Sprintf("rollback to revision %d: %s", st.Revision, replayReason)
		if _, err := dc.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("undo rollout of %s: update: %w", ref, err)
		}
	}
	if _, err := waitRollout(ctx, dc, st.Deployment, 0); err != nil && !isNotFound(err) {
		return fmt.Errorf("undo rollout of %s to replicaset %s: %w", ref, st.ReplicaSet, err)
	}
	return nil
}
