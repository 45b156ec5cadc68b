package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/aiuptime/aiuptime/stack"
)

// Node annotations the provider sets while a node fault is in force; the
// value is the stack's namespace. The undo acts only on a node that still
// carries its annotation (anything else was changed since by someone
// else, who now owns the node's state).
const (
	AnnotationCordonedBy = "aiuptime.io/cordoned-by"
	AnnotationNotReadyBy = "aiuptime.io/not-ready-by"
)

// ReasonNodeLoss is the reason of the Ready=False condition node-loss
// writes.
const ReasonNodeLoss = "AiuptimeNodeLoss"

// DefaultDrainTimeout bounds a drain when its action names no timeout.
const DefaultDrainTimeout = 2 * time.Minute

// kwokNode is the annotation kube/local's kwok manages nodes by
// (kube/local.FakeNodeAnnotation): its nodes post no status of their own
// once NotReady, so a status patch holds until the undo.
const kwokNodeKey, kwokNodeValue = "kwok.x-k8s.io/node", "fake"

// kwokLost is the kwok annotation's value while node-loss is in force:
// kwok manages no node with it.
const kwokLost = "lost-by-aiuptime"

// mirrorPod marks a static pod's mirror (kubectl drain skips them).
const mirrorPod = "kubernetes.io/config.mirror"

// NodeOf implements stack.Noder: the node the service's pod is bound to.
func (s *Stack) NodeOf(ctx context.Context, service string) (string, error) {
	_, pod, err := s.lookup(ctx, service)
	if err != nil {
		return "", err
	}
	if pod.Spec.NodeName == "" {
		return "", fmt.Errorf("%s: pod %s/%s is not bound to a node yet", service, pod.Namespace, pod.Name)
	}
	return pod.Spec.NodeName, nil
}

// DescribeNodeAction implements stack.Noder.
func (s *Stack) DescribeNodeAction(node string, a stack.NodeAction) []string {
	check := "check that every pod on node " + node + " other than DaemonSet and mirror pods is the stack's (in namespace " +
		s.o.namespace + ", matching a role), else refuse"
	journal := "journal how to bring node " + node + " back"
	switch a.Op {
	case stack.NodeCordon:
		return []string{journal, fmt.Sprintf("cordon node %s (spec.unschedulable, annotated %s); running pods stay; revert: uncordon it", node, AnnotationCordonedBy)}
	case stack.NodeDrain:
		return []string{check, journal, fmt.Sprintf("cordon node %s, then evict its pods through the eviction API (PodDisruptionBudgets honoured, retried for %s); their Deployments bring them back on other nodes; revert: uncordon it", node, orDrain(a.Timeout))}
	case stack.NodeLoss:
		return []string{check, journal, fmt.Sprintf("stop kwok's heartbeats for node %s (kwok nodes only: a real kubelet's node is refused) and set its Ready condition Unknown (reason %s); the controller manager taints it unreachable (NoSchedule, then NoExecute: pods without a longer toleration are evicted after 300 s); revert: Ready again and hand the node back to kwok", node, ReasonNodeLoss)}
	}
	return []string{fmt.Sprintf("%s node %s: not supported", a.Op, node)}
}

func orDrain(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultDrainTimeout
	}
	return d
}

// nodeState is what UndoNode needs; it holds no secret.
type nodeState struct {
	Conn Conn `json:"conn"`
	// Namespace is the stack's: the annotations' value, and its opt-in
	// label is re-checked on a replay.
	Namespace string       `json:"namespace"`
	Node      string       `json:"node"`
	NodeUID   apitypes.UID `json:"node_uid"`
	Op        stack.NodeOp `json:"op"`
	// WasUnschedulable says the node was cordoned before: the undo leaves
	// it so.
	WasUnschedulable bool `json:"was_unschedulable,omitempty"`
	// Ready is the node's Ready condition before node-loss.
	Ready *corev1.NodeCondition `json:"ready,omitempty"`
}

// UndoNode is the undo function of node operations: uncordon the node
// (cordon, drain), or make it Ready again (loss), when it still carries
// the provider's annotation.
const UndoNode = "kubernetes/node"

func init() {
	stack.RegisterUndoState(UndoNode, func(ctx context.Context, _ stack.Scope, st nodeState) error {
		return st.undo(ctx)
	})
}

// Check implements stack.UndoChecker: the stack's namespace still opts in
// and carries the scope's labels; a node that is gone (or another node of
// the same name), or no longer carries the annotation, counts as undone.
func (st nodeState) Check(ctx context.Context, sc stack.Scope) error {
	if st.Namespace == "" || st.Node == "" {
		return stack.Untrusted("kubernetes node state names no namespace or node")
	}
	if st.Conn.Gone() {
		return stack.ErrGone
	}
	cli, err := st.Conn.Client()
	if err != nil {
		return err
	}
	ns, err := cli.CoreV1().Namespaces().Get(ctx, st.Namespace, metav1.GetOptions{})
	if isNotFound(err) {
		return stack.Untrusted("namespace %s is gone: nothing proves node %s was the stack's to touch", st.Namespace, st.Node)
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", st.Namespace, err)
	}
	if ns.Labels[LabelDrill] != LabelDrillEnabled {
		return stack.Untrusted("namespace %s no longer carries %s=%s", st.Namespace, LabelDrill, LabelDrillEnabled)
	}
	if err := sc.CarriesLabels(ns.Labels); err != nil {
		return fmt.Errorf("namespace %s: %w", st.Namespace, err)
	}
	n, err := cli.CoreV1().Nodes().Get(ctx, st.Node, metav1.GetOptions{})
	if isNotFound(err) || (err == nil && n.UID != st.NodeUID) {
		return stack.ErrGone
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", st.Node, err)
	}
	if n.Annotations[st.annotation()] != st.Namespace {
		return stack.ErrGone
	}
	return nil
}

func (st nodeState) annotation() string {
	if st.Op == stack.NodeLoss {
		return AnnotationNotReadyBy
	}
	return AnnotationCordonedBy
}

// undo brings the node back; a node that is gone, replaced, or no longer
// annotated by this stack is left as it is.
func (st nodeState) undo(ctx context.Context) error {
	cli, err := st.Conn.Client()
	if err != nil {
		return err
	}
	nodes := cli.CoreV1().Nodes()
	n, err := nodes.Get(ctx, st.Node, metav1.GetOptions{})
	if isNotFound(err) || (err == nil && n.UID != st.NodeUID) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", st.Node, err)
	}
	if n.Annotations[st.annotation()] != st.Namespace {
		return nil // not ours (any more)
	}
	if st.Op == stack.NodeLoss {
		ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
		if st.Ready != nil && st.Ready.Status == corev1.ConditionTrue {
			ready = *st.Ready
		}
		if err := patchReady(ctx, cli.CoreV1().Nodes(), st.Node, ready); err != nil {
			return fmt.Errorf("node %s: make it Ready again: %w", st.Node, err)
		}
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:null,%q:%q}}}`, AnnotationNotReadyBy, kwokNodeKey, kwokNodeValue)
		_, err = nodes.Patch(ctx, st.Node, apitypes.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return wrapNode(err, "node %s: hand it back to kwok", st.Node)
	}
	unsched := "false"
	if st.WasUnschedulable {
		unsched = "true"
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:null}},"spec":{"unschedulable":%s}}`, AnnotationCordonedBy, unsched)
	_, err = nodes.Patch(ctx, st.Node, apitypes.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return wrapNode(err, "node %s: uncordon", st.Node)
}

func wrapNode(err error, format string, args ...any) error {
	if err == nil || isNotFound(err) {
		return nil
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// NodeUndoOf implements stack.Noder: the undo (UndoNode) uncordons the
// node after cordon and drain unless it was cordoned before, and makes it
// Ready again after loss.
func (s *Stack) NodeUndoOf(ctx context.Context, node string, a stack.NodeAction) (stack.Undo, error) {
	n, err := s.cli.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return stack.Undo{}, fmt.Errorf("undo of %s node %s: %w", a.Op, node, err)
	}
	st := nodeState{Conn: s.o.conn, Namespace: s.o.namespace, Node: node, NodeUID: n.UID, Op: a.Op,
		WasUnschedulable: n.Spec.Unschedulable}
	if c := readyCondition(n); c != nil {
		st.Ready = c.DeepCopy()
	}
	b, err := json.Marshal(st)
	return stack.Undo{Func: UndoNode, State: b}, err
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// NodeAct implements stack.Noder. Every operation first proves that a
// pod of the stack runs on node. Drain and loss hurt every pod on the
// node, so they also refuse a node that runs any pod that is not the
// stack's (DaemonSet pods, mirror pods and ended pods aside, as `kubectl
// drain` ignores them): the blast radius is the stack. Cordon leaves
// running pods alone and only stops new pods from landing on the node.
func (s *Stack) NodeAct(ctx context.Context, node string, a stack.NodeAction) error {
	mine, foreign, err := s.podsOn(ctx, node)
	if err != nil {
		return err
	}
	if len(mine) == 0 {
		return fmt.Errorf("%s node %s: no pod of the stack runs on it: %w", a.Op, node, stack.ErrNotOwned)
	}
	if a.Op != stack.NodeCordon && len(foreign) > 0 {
		return fmt.Errorf("%s node %s: it also runs pods that are not the stack's (%s), which the %s would hurt: %w",
			a.Op, node, strings.Join(foreign, ", "), a.Op, stack.ErrNotOwned)
	}
	switch a.Op {
	case stack.NodeCordon:
		err = s.cordon(ctx, node)
	case stack.NodeDrain:
		err = s.drain(ctx, node, mine, orDrain(a.Timeout))
	case stack.NodeLoss:
		err = s.loseNode(ctx, node)
	default:
		return stack.Unsupported(Kind, fmt.Sprintf("%s node %s", a.Op, node))
	}
	if err != nil {
		return fmt.Errorf("kubernetes %s node %s: %w", a.Op, node, err)
	}
	s.log.Info("node acted on", "op", a.Op, "node", node, "stack_pods", len(mine))
	return nil
}

// podsOn lists the live pods on node: the stack's, and the names of those
// that are not (DaemonSet, mirror and ended pods are neither).
func (s *Stack) podsOn(ctx context.Context, node string) (mine []corev1.Pod, foreign []string, err error) {
	if err := s.checkNamespace(ctx); err != nil {
		return nil, nil, err
	}
	pl, err := s.cli.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
	if err != nil {
		return nil, nil, fmt.Errorf("list pods on node %s: %w", node, err)
	}
	var sels []labels.Selector
	for _, r := range s.roleOrder() {
		sel, err := s.selector(ctx, r)
		if err != nil {
			return nil, nil, fmt.Errorf("role %s: %w", r, err)
		}
		sels = append(sels, sel)
	}
	for _, p := range pl.Items {
		if !live(&p) || isDaemonSetPod(&p) || p.Annotations[mirrorPod] != "" {
			continue
		}
		if p.Namespace == s.o.namespace && matchesAny(sels, p.Labels) {
			mine = append(mine, p)
			continue
		}
		foreign = append(foreign, p.Namespace+"/"+p.Name)
	}
	sort.Strings(foreign)
	if len(foreign) > 5 {
		foreign = append(foreign[:5], fmt.Sprintf("and %d more", len(foreign)-5))
	}
	return mine, foreign, nil
}

func isDaemonSetPod(p *corev1.Pod) bool {
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.Kind == "DaemonSet"
}

func matchesAny(sels []labels.Selector, l map[string]string) bool {
	for _, sel := range sels {
		if sel.Matches(labels.Set(l)) {
			return true
		}
	}
	return false
}

// cordon marks node unschedulable and annotates it, unless it is cordoned
// already (then the undo leaves it cordoned).
func (s *Stack) cordon(ctx context.Context, node string) error {
	n, err := s.cli.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if n.Spec.Unschedulable {
		s.log.Info("node already cordoned; left so", "node", node)
		return nil
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}},"spec":{"unschedulable":true}}`, AnnotationCordonedBy, s.o.namespace)
	_, err = s.cli.CoreV1().Nodes().Patch(ctx, node, apitypes.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// drain cordons node, evicts the stack's pods on it through the eviction
// API (a PodDisruptionBudget's refusal, HTTP 429, is retried until
// timeout, as `kubectl drain` does) and waits until they are gone.
func (s *Stack) drain(ctx context.Context, node string, pods []corev1.Pod, timeout time.Duration) error {
	if err := s.cordon(ctx, node); err != nil {
		return fmt.Errorf("cordon: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, p := range pods {
		if err := s.evict(ctx, p); err != nil {
			return err
		}
	}
	for _, p := range pods {
		err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
			cur, err := s.cli.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
			if isNotFound(err) {
				return true, nil
			}
			return err == nil && cur.UID != p.UID, err
		})
		if err != nil {
			return fmt.Errorf("evicted pod %s/%s not gone within %s: %w", p.Namespace, p.Name, timeout, err)
		}
	}
	return nil
}

// evict asks the eviction API to evict exactly this pod (a UID
// precondition), retrying while a PodDisruptionBudget refuses.
func (s *Stack) evict(ctx context.Context, p corev1.Pod) error {
	uid := p.UID
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}}
	var last error
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		err := s.cli.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev)
		switch {
		case err == nil, isNotFound(err), apierrors.IsConflict(err):
			return true, nil // evicted, or gone (or replaced) already
		case apierrors.IsTooManyRequests(err):
			last = err // a PodDisruptionBudget holds it back: retry
			return false, nil
		}
		return false, err
	})
	var status apierrors.APIStatus
	if err != nil && last != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || !errors.As(err, &status)) {
		// Out of time while refused: the deadline shows up as itself or,
		// from the client's rate limiter, as a plain error.
		return fmt.Errorf("evict pod %s/%s: still refused (%v): %w", p.Namespace, p.Name, last, err)
	}
	if err != nil {
		return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	s.log.Info("pod evicted", "pod", p.Namespace+"/"+p.Name)
	return nil
}

// loseNode makes a kwok node lost: it stops kwok's heartbeats for it (the
// node's kwok annotation changed, so kwok no longer manages it: no lease
// renewals, no status, no pod updates, as with a dead kubelet) and sets
// its Ready condition Unknown with ReasonNodeLoss at once, rather than
// after the controller manager's grace period. A node a real kubelet runs
// is refused: its kubelet would post Ready again within seconds, and
// stopping the kubelet is not built.
func (s *Stack) loseNode(ctx context.Context, node string) error {
	nodes := s.cli.CoreV1().Nodes()
	n, err := nodes.Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if n.Annotations[kwokNodeKey] != kwokNodeValue {
		return stack.Unsupported(Kind, fmt.Sprintf("node-loss of node %s, which a real kubelet runs (it would post Ready again within seconds; stopping the kubelet is not built)", node))
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q,%q:%q}}}`, AnnotationNotReadyBy, s.o.namespace, kwokNodeKey, kwokLost)
	if _, err := nodes.Patch(ctx, node, apitypes.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("stop kwok's heartbeats: %w", err)
	}
	c := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: ReasonNodeLoss,
		Message: "heartbeats stopped by aiuptime (node-loss, drill in namespace " + s.o.namespace + ")"}
	return patchReady(ctx, nodes, node, c)
}

// nodePatcher is the part of the node client patchReady needs.
type nodePatcher interface {
	Patch(ctx context.Context, name string, pt apitypes.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*corev1.Node, error)
}

// patchReady replaces the node's Ready condition (a strategic merge patch
// of the status subresource: conditions merge by type), with heartbeat
// and transition times now.
func patchReady(ctx context.Context, nodes nodePatcher, node string, c corev1.NodeCondition) error {
	now := metav1.Now()
	c.LastHeartbeatTime, c.LastTransitionTime = now, now
	b, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{c}}})
	if err != nil {
		return err
	}
	_, err = nodes.Patch(ctx, node, apitypes.StrategicMergePatchType, b, metav1.PatchOptions{}, "status")
	return err
}

// NodeLeftovers says which node faults of this stack are still in force on
// node (its annotations, with the stack's namespace as their value): the
// doctor's audit of the node kinds.
func (s *Stack) NodeLeftovers(ctx context.Context, node string) (map[string]string, error) {
	n, err := s.cli.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	out := map[string]string{}
	if n.Annotations[AnnotationCordonedBy] == s.o.namespace {
		out["node-cordoned"] = fmt.Sprintf("cordoned by a drill in namespace %s (unschedulable %v): `kubectl uncordon %s` or `drill cleanup`", s.o.namespace, n.Spec.Unschedulable, node)
	}
	if n.Annotations[AnnotationNotReadyBy] == s.o.namespace {
		out["node-lost"] = fmt.Sprintf("lost by a drill in namespace %s (kwok annotation %q): `drill cleanup`", s.o.namespace, n.Annotations[kwokNodeKey])
	}
	return out, nil
}
