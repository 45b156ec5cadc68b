package chaosmesh

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// Undo is the reverter of every Chaos Mesh fault: delete the object the
// record names and wait until it is gone.
const Undo = "kubernetes/chaos-mesh"

// DefaultFinalizerGrace is how long a deleted object may keep its
// finalizers before the drill, finding no controller to clear them,
// removes them itself.
const DefaultFinalizerGrace = 5 * time.Second

// State is what Undo needs, journaled before the object is created; it
// holds no secret (the kubeconfig is named, not copied).
type State struct {
	Conn      kubernetes.Conn `json:"conn"`
	Namespace string          `json:"namespace"`
	// Kind is NetworkChaos, PodChaos or IOChaos.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Labels are the labels the object was created with: the undo deletes
	// only an object that still carries them.
	Labels map[string]string `json:"labels"`
}

func init() {
	chaos.RegisterStateReverter(Undo, func(ctx context.Context, st State) error {
		_, err := st.revert(ctx)
		return err
	})
}

// revert deletes the object and waits until it is gone.
func (st State) revert(ctx context.Context) (Deleted, error) {
	c, err := NewClient(st.Conn)
	if err != nil {
		return Deleted{}, err
	}
	return c.DeleteAndWait(ctx, st.Kind, st.Namespace, st.Name, st.Labels, DefaultFinalizerGrace)
}

// Check implements chaos.Checker, before a replay deletes anything: the
// state names one of the drill's object kinds and carries its labels, the
// namespace still opts in to drills and carries the record's labels, and
// the object carries the journaled labels. A kubeconfig, namespace or
// object that is gone counts as reverted.
func (st State) Check(ctx context.Context, sc chaos.Scope) error {
	if _, ok := Resources[st.Kind]; !ok || st.Namespace == "" || st.Name == "" {
		return stack.Untrusted("chaos mesh state names no object of the drill (%q %s/%s)", st.Kind, st.Namespace, st.Name)
	}
	if st.Labels[LabelManagedBy] != ManagedBy || st.Labels[LabelRecord] == "" {
		return stack.Untrusted("chaos mesh state: object %s/%s is not labelled as the drill's", st.Namespace, st.Name)
	}
	if sc.RecordID != "" && st.Labels[LabelRecord] != labelValue(sc.RecordID) {
		return stack.Untrusted("chaos mesh state: object %s/%s belongs to record %s, not %s", st.Namespace, st.Name, st.Labels[LabelRecord], sc.RecordID)
	}
	if sc.Run != "" && st.Labels[LabelRun] != labelValue(sc.Run) {
		return stack.Untrusted("chaos mesh state: object %s/%s belongs to run %s, not %s", st.Namespace, st.Name, st.Labels[LabelRun], sc.Run)
	}
	if !st.Conn.InCluster && st.Conn.Kubeconfig != "" {
		// A local cluster's kubeconfig goes with its state dir on `drill
		// kube down`: the cluster, and so the object, is gone.
		if _, err := os.Stat(st.Conn.Kubeconfig); errors.Is(err, fs.ErrNotExist) {
			return stack.ErrGone
		}
	}
	c, err := NewClient(st.Conn)
	if err != nil {
		return err
	}
	ns, err := c.cs.CoreV1().Namespaces().Get(ctx, st.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return stack.ErrGone
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", st.Namespace, err)
	}
	if ns.Labels[kubernetes.LabelDrill] != kubernetes.LabelDrillEnabled {
		return stack.Untrusted("namespace %s no longer carries %s=%s", st.Namespace, kubernetes.LabelDrill, kubernetes.LabelDrillEnabled)
	}
	if err := sc.CarriesLabels(ns.Labels); err != nil {
		return fmt.Errorf("namespace %s: %w", st.Namespace, err)
	}
	u, ok, err := c.Get(ctx, st.Kind, st.Namespace, st.Name)
	if err != nil {
		return err
	}
	if !ok {
		return stack.ErrGone
	}
	if err := carries(u, st.Labels); err != nil {
		return stack.Untrusted("%v", err)
	}
	return nil
}
