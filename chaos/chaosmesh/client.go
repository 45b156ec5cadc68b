package chaosmesh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	kclient "k8s.io/client-go/kubernetes"

	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// ControllerSelector selects the pods of Chaos Mesh's controller manager
// (the labels its Helm chart gives them), in any namespace.
const ControllerSelector = "app.kubernetes.io/name=chaos-mesh,app.kubernetes.io/component=controller-manager"

// pollInterval is how often an object's status and its deletion are
// polled.
const pollInterval = 200 * time.Millisecond

// Client creates, reads and deletes the drill's Chaos Mesh objects.
type Client struct {
	dyn dynamic.Interface
	cs  kclient.Interface
}

// NewClient connects to the cluster conn names.
func NewClient(conn kubernetes.Conn) (*Client, error) {
	cfg, err := conn.RESTConfig()
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("chaos mesh client: %w", err)
	}
	cs, err := kclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("chaos mesh client: %w", err)
	}
	return &Client{dyn: dyn, cs: cs}, nil
}

func (c *Client) resource(kind, namespace string) (dynamic.ResourceInterface, error) {
	gvr, ok := Resources[kind]
	if !ok {
		return nil, fmt.Errorf("chaos mesh: unknown object kind %q", kind)
	}
	return c.dyn.Resource(gvr).Namespace(namespace), nil
}

// Create creates o, a typed Chaos Mesh object.
func (c *Client) Create(ctx context.Context, o runtime.Object, namespace string) error {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return fmt.Errorf("convert %s: %w", kindOf(o), err)
	}
	u := &unstructured.Unstructured{Object: m}
	r, err := c.resource(kindOf(o), namespace)
	if err != nil {
		return err
	}
	if _, err := r.Create(ctx, u, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create %s %s/%s: %w", kindOf(o), namespace, u.GetName(), err)
	}
	return nil
}

// Get reads one object; ok is false when it does not exist.
func (c *Client) Get(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, bool, error) {
	r, err := c.resource(kind, namespace)
	if err != nil {
		return nil, false, err
	}
	u, err := r.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get %s %s/%s: %w", kind, namespace, name, err)
	}
	return u, true, nil
}

// Status is the chaos status of an object (Chaos Mesh's controller writes
// it; nothing else does).
func Status(u *unstructured.Unstructured) (v1alpha1.ChaosStatus, error) {
	var st v1alpha1.ChaosStatus
	raw, ok := u.Object["status"].(map[string]any)
	if !ok {
		return st, nil
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &st); err != nil {
		return st, fmt.Errorf("status of %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return st, nil
}

// InForce reports whether the status says the fault is in force: the
// experiment's desired phase is Run, at least one container record exists
// and every record is injected (or, for a one-shot pod kill, was applied).
func InForce(st v1alpha1.ChaosStatus) bool {
	if st.Experiment.DesiredPhase != v1alpha1.RunningPhase || len(st.Experiment.Records) == 0 {
		return false
	}
	for _, r := range st.Experiment.Records {
		if r == nil || (r.Phase != v1alpha1.Injected && r.InjectedCount == 0) {
			return false
		}
	}
	return true
}

// ErrNoController means no Chaos Mesh controller runs in the cluster: the
// object exists, but nothing will ever inject its fault.
var ErrNoController = errors.New("no Chaos Mesh controller")

// Controller says whether a Chaos Mesh controller-manager pod runs (ready)
// anywhere in the cluster: "" and ErrNoController when none does. A
// listing the drill may not do (RBAC) is no proof of absence: the error is
// returned as is, and the caller falls back on the object's status.
func (c *Client) Controller(ctx context.Context) (string, error) {
	pods, err := c.cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: ControllerSelector})
	if err != nil {
		return "", fmt.Errorf("list chaos mesh controller pods: %w", err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == "Running" {
			return p.Namespace + "/" + p.Name, nil
		}
	}
	return "", ErrNoController
}

// AwaitInForce polls the object's status until InForce, for at most
// timeout. It returns the last status; a timeout is no error (the caller
// decides what an unenforced fault means).
func (c *Client) AwaitInForce(ctx context.Context, kind, namespace, name string, timeout time.Duration) (v1alpha1.ChaosStatus, bool, error) {
	var last v1alpha1.ChaosStatus
	var in bool
	deadline := time.Now().Add(timeout)
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		u, ok, err := c.Get(ctx, kind, namespace, name)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, fmt.Errorf("%s %s/%s: deleted while awaiting injection", kind, namespace, name)
		}
		if last, err = Status(u); err != nil {
			return false, err
		}
		in = InForce(last)
		return in || time.Now().After(deadline), nil
	})
	if err != nil {
		return last, false, fmt.Errorf("await %s %s/%s in force: %w", kind, namespace, name, err)
	}
	return last, in, nil
}

// Deleted says how an object went: whether it existed, and the finalizers
// the drill removed because no controller was left to clear them.
type Deleted struct {
	Existed           bool
	RemovedFinalizers []string
}

// DeleteAndWait deletes the object if it still carries want (its labels:
// managed-by, record) and waits until it is gone. Chaos Mesh's controller
// recovers the fault and then clears its finalizer; when the object still
// has finalizers after finalizerGrace and no controller runs, the drill
// removes them (only from its own object: the labels were checked) and
// says so in the result.
func (c *Client) DeleteAndWait(ctx context.Context, kind, namespace, name string, want map[string]string, finalizerGrace time.Duration) (Deleted, error) {
	var res Deleted
	u, ok, err := c.Get(ctx, kind, namespace, name)
	if err != nil || !ok {
		return res, err
	}
	res.Existed = true
	if err := carries(u, want); err != nil {
		return res, err
	}
	r, err := c.resource(kind, namespace)
	if err != nil {
		return res, err
	}
	uid := u.GetUID()
	err = r.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return res, fmt.Errorf("delete %s %s/%s: %w", kind, namespace, name, err)
	}
	deadline := time.Now().Add(finalizerGrace)
	err = wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		cur, ok, err := c.Get(ctx, kind, namespace, name)
		if err != nil {
			return false, err
		}
		if !ok || cur.GetUID() != uid {
			return true, nil
		}
		if len(cur.GetFinalizers()) == 0 || time.Now().Before(deadline) || len(res.RemovedFinalizers) > 0 {
			return false, nil
		}
		if _, cerr := c.Controller(ctx); !errors.Is(cerr, ErrNoController) {
			return false, nil // a controller (or unknown): let it finish the recovery
		}
		res.RemovedFinalizers = cur.GetFinalizers()
		return false, c.dropFinalizers(ctx, r, cur)
	})
	if err != nil {
		return res, fmt.Errorf("await deletion of %s %s/%s: %w", kind, namespace, name, err)
	}
	return res, nil
}

// dropFinalizers clears the finalizers of exactly this object (a resource
// version precondition in the patch).
func (c *Client) dropFinalizers(ctx context.Context, r dynamic.ResourceInterface, u *unstructured.Unstructured) error {
	patch := fmt.Sprintf(`{"metadata":{"finalizers":null,"resourceVersion":%q}}`, u.GetResourceVersion())
	_, err := r.Patch(ctx, u.GetName(), apitypes.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or changed: the next poll looks again
	}
	if err != nil {
		return fmt.Errorf("remove finalizers of %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}

// errNotOurs refuses an object whose labels are not the drill's.
var errNotOurs = errors.New("object does not carry the drill's labels")

// carries returns nil when u's labels hold every label of want.
func carries(u *unstructured.Unstructured, want map[string]string) error {
	got := u.GetLabels()
	for k, v := range want {
		if got[k] != v {
			return fmt.Errorf("%s %s/%s: label %s is %q, not %q: %w", u.GetKind(), u.GetNamespace(), u.GetName(), k, got[k], v, errNotOurs)
		}
	}
	return nil
}

// List lists the objects of every kind the drill creates that carry
// LabelManagedBy=ManagedBy, in every namespace (or one).
func (c *Client) List(ctx context.Context, namespace string) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	for _, kind := range []string{IOChaos, NetworkChaos, PodChaos} {
		l, err := c.dyn.Resource(Resources[kind]).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy})
		if apierrors.IsNotFound(err) {
			continue // the CRD is not installed
		}
		if err != nil {
			return out, fmt.Errorf("list %s: %w", kind, err)
		}
		out = append(out, l.Items...)
	}
	return out, nil
}
