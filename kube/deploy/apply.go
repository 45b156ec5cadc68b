package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// ErrNotOurs means an object Deploy would write exists without the label
// LabelManagedBy=ManagedBy: someone else's, left alone.
var ErrNotOurs = errors.New("exists and is not managed by aiuptime")

// Action is what Deploy did to an object.
type Action string

// Actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
)

// Object is one object Deploy wrote.
type Object struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Action Action `json:"action"`
}

// typed is the part of a client-go typed client apply uses.
type typed[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// apply creates want, or replaces an existing object of ours with it
// (keep copies what the server assigned and must survive, such as a
// Service's ClusterIP), retrying on conflicts. An existing object without
// our label is refused with ErrNotOurs.
func apply[T metav1.Object](ctx context.Context, c typed[T], kind string, want T, keep func(have, want T)) (T, Object, error) {
	obj := Object{Kind: kind, Name: want.GetName()}
	var got T
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		have, err := c.Get(ctx, want.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			got, err = c.Create(ctx, want, metav1.CreateOptions{FieldManager: ManagedBy})
			obj.Action = Created
			return err
		}
		if err != nil {
			return err
		}
		if have.GetLabels()[LabelManagedBy] != ManagedBy {
			return fmt.Errorf("it %w (label %s=%s missing)", ErrNotOurs, LabelManagedBy, ManagedBy)
		}
		want.SetResourceVersion(have.GetResourceVersion())
		// Annotations others set (the Deployment controller's revision, a
		// rollout's change cause) stay.
		ann := maps.Clone(have.GetAnnotations())
		if ann == nil {
			ann = map[string]string{}
		}
		maps.Copy(ann, want.GetAnnotations())
		want.SetAnnotations(ann)
		if keep != nil {
			keep(have, want)
		}
		got, err = c.Update(ctx, want, metav1.UpdateOptions{FieldManager: ManagedBy})
		obj.Action = Updated
		if err == nil && got.GetResourceVersion() == have.GetResourceVersion() {
			obj.Action = Unchanged
		}
		return err
	})
	if err != nil {
		return got, obj, fmt.Errorf("apply %s %s/%s: %w", kind, want.GetNamespace(), want.GetName(), err)
	}
	return got, obj, nil
}

// keepService keeps the addresses the API server gave a Service.
func keepService(have, want *corev1.Service) {
	want.Spec.ClusterIP, want.Spec.ClusterIPs = have.Spec.ClusterIP, have.Spec.ClusterIPs
	want.Spec.IPFamilies, want.Spec.IPFamilyPolicy = have.Spec.IPFamilies, have.Spec.IPFamilyPolicy
}

// ensureNamespace creates the namespace (ours, opted in) or opts an
// existing one in; an existing namespace that is not ours stays not ours.
func ensureNamespace(ctx context.Context, cli kclient.Interface, ns string) (Object, error) {
	obj := Object{Kind: "Namespace", Name: ns}
	have, err := cli.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = cli.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: managed(map[string]string{kubernetes.LabelDrill: kubernetes.LabelDrillEnabled})}}, metav1.CreateOptions{FieldManager: ManagedBy})
		if err != nil {
			return obj, fmt.Errorf("create namespace %s: %w", ns, err)
		}
		obj.Action = Created
		return obj, nil
	}
	if err != nil {
		return obj, fmt.Errorf("namespace %s: %w", ns, err)
	}
	if have.DeletionTimestamp != nil {
		return obj, fmt.Errorf("namespace %s is being deleted: try again when it is gone", ns)
	}
	obj.Action = Unchanged
	if have.Labels[kubernetes.LabelDrill] != kubernetes.LabelDrillEnabled {
		patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, kubernetes.LabelDrill, kubernetes.LabelDrillEnabled)
		if _, err := cli.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: ManagedBy}); err != nil {
			return obj, fmt.Errorf("label namespace %s %s=%s: %w", ns, kubernetes.LabelDrill, kubernetes.LabelDrillEnabled, err)
		}
		obj.Action = Updated
	}
	return obj, nil
}
