// Package kube holds the fault kinds of workloads on a cluster, acting
// through the stack's node and scale capabilities (stack.Noder,
// stack.Scaler; the kubernetes provider offers them, a Docker stack does
// not and is refused at validation):
//
//   - node-cordon marks the node of the target's pod unschedulable
//     (`kubectl cordon`); revert uncordons it.
//   - node-drain cordons it and evicts its pods through the eviction API,
//     honouring PodDisruptionBudgets (`kubectl drain`); revert uncordons it.
//     The provider refuses a node that runs any pod that is not the
//     stack's (DaemonSet and mirror pods aside): a drain hurts every pod
//     on the node, and the drill may hurt only its own.
//   - node-loss makes the node lost, as a dead kubelet would: on kwok's
//     simulated nodes it takes the node from kwok (no more heartbeats,
//     lease renewals or pod updates) and sets its Ready condition Unknown
//     at once; the controller manager then taints it unreachable
//     (NoSchedule at once, NoExecute seconds later, which evicts pods
//     after their toleration, 300 s by default; it does not mark the pods
//     not ready, as it does when it finds a node lost by itself after its
//     grace period). A real kubelet's node is refused (the kubelet
//     would post Ready again within seconds; stopping the kubelet is not
//     built). Revert sets Ready again and hands the node back to kwok. The
//     same blast-radius rule as drain holds.
//   - scale-to-zero scales the Deployment of the target's pod to zero
//     replicas (every replica, not only the target); revert scales it
//     back and waits until its replicas are ready.
//
// Each fault journals the provider's undo before it acts, so `drill
// cleanup` brings the node or the Deployment back after a crash.
package kube

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// Fault kind names.
const (
	KindCordon      = "node-cordon"
	KindDrain       = "node-drain"
	KindNodeLoss    = "node-loss"
	KindScaleToZero = "scale-to-zero"
)

// Mechanisms.
const (
	// MechNodeAPI: the Node object's spec through the API server
	// (cordon) and the eviction API (drain).
	MechNodeAPI = "node-api"
	// MechNodeStatus: the Node's Ready condition, written to its status.
	MechNodeStatus = "node-status"
	// MechScale: the Deployment's replica count.
	MechScale = "scale"
)

// DefaultDrainTimeout bounds a drain's evictions.
const DefaultDrainTimeout = 2 * time.Minute

// NodeSpec is the params of the node kinds.
type NodeSpec struct {
	// Timeout bounds a drain (PodDisruptionBudgets may hold evictions back).
	Timeout time.Duration
}

// NodeFault is one node operation on the node the target runs on.
type NodeFault struct {
	Kind    string
	Action  stack.NodeAction
	Service string
	Stack   stack.Stack
	Deps    chaos.Deps

	node string
}

var _ chaos.Fault = (*NodeFault)(nil)

// Name names the fault.
func (f *NodeFault) Name() string { return f.Kind + " on " + f.Service }

// Mechanism is node-status for node-loss, node-api otherwise.
func (f *NodeFault) Mechanism() string {
	if f.Action.Op == stack.NodeLoss {
		return MechNodeStatus
	}
	return MechNodeAPI
}

// Node is the node acted on ("" before Inject or Describe).
func (f *NodeFault) Node() string { return f.node }

func (f *NodeFault) noder() (stack.Noder, error) {
	nd, ok := f.Stack.(stack.Noder)
	if !ok {
		return nil, fmt.Errorf("%s: %w", f.Name(), chaos.ErrUnsupported)
	}
	return nd, nil
}

// Describe lists what Inject would do.
func (f *NodeFault) Describe(ctx context.Context) ([]string, error) {
	nd, err := f.noder()
	if err != nil {
		return nil, err
	}
	node, err := nd.NodeOf(ctx, f.Service)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	f.node = node
	return append([]string{fmt.Sprintf("%s runs on node %s", f.Service, node)}, nd.DescribeNodeAction(node, f.Action)...), nil
}

// Inject resolves the target's node, journals the provider's undo, then
// acts on that node.
func (f *NodeFault) Inject(ctx context.Context) (chaos.Revert, error) {
	nd, err := f.noder()
	if err != nil {
		return chaos.NoRevert, err
	}
	node, err := nd.NodeOf(ctx, f.Service)
	if err != nil {
		return chaos.NoRevert, fmt.Errorf("%s: %w", f.Name(), err)
	}
	f.node = node
	undo, err := nd.NodeUndoOf(ctx, node, f.Action)
	if err != nil {
		return chaos.NoRevert, fmt.Errorf("%s: %w", f.Name(), err)
	}
	rec := chaos.Record{Kind: f.Kind, Target: f.Service, Reverter: undo.Func, Mechanism: f.Mechanism(), Sealed: undo.Sealed,
		Note: "node " + node}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, undo.State, func(ctx context.Context) error {
		return nd.NodeAct(ctx, node, f.Action)
	})
	if err != nil {
		err = fmt.Errorf("%s (node %s): %w", f.Name(), node, err)
	}
	return rev, err
}

// ScaleFault scales the workload of the target to zero replicas.
type ScaleFault struct {
	Service string
	Stack   stack.Stack
	Deps    chaos.Deps
}

var _ chaos.Fault = (*ScaleFault)(nil)

// Name names the fault.
func (f *ScaleFault) Name() string { return KindScaleToZero + " on " + f.Service }

// Mechanism is scale.
func (f *ScaleFault) Mechanism() string { return MechScale }

func (f *ScaleFault) scaler() (stack.Scaler, error) {
	sc, ok := f.Stack.(stack.Scaler)
	if !ok {
		return nil, fmt.Errorf("%s: %w", f.Name(), chaos.ErrUnsupported)
	}
	return sc, nil
}

// Describe lists what Inject would do.
func (f *ScaleFault) Describe(ctx context.Context) ([]string, error) {
	sc, err := f.scaler()
	if err != nil {
		return nil, err
	}
	w, err := sc.Workload(ctx, f.Service)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return []string{"journal the replica count of " + w,
		"scale " + w + " to 0 (every replica of it, not only " + f.Service + "); revert: scale it back and wait until its replicas are ready"}, nil
}

// Inject journals the workload's replica count, then scales it to zero.
func (f *ScaleFault) Inject(ctx context.Context) (chaos.Revert, error) {
	sc, err := f.scaler()
	if err != nil {
		return chaos.NoRevert, err
	}
	undo, err := sc.ScaleUndoOf(ctx, f.Service)
	if err != nil {
		return chaos.NoRevert, fmt.Errorf("%s: %w", f.Name(), err)
	}
	rec := chaos.Record{Kind: KindScaleToZero, Target: f.Service, Reverter: undo.Func, Mechanism: MechScale, Sealed: undo.Sealed}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, undo.State, func(ctx context.Context) error {
		return sc.Scale(ctx, f.Service, 0)
	})
	if err != nil {
		err = fmt.Errorf("%s: %w", f.Name(), err)
	}
	return rev, err
}

// NodeAuditor is a Noder that can say which of its node faults are still
// in force on a node (what to name, what it says), for `drill doctor`.
type NodeAuditor interface {
	NodeLeftovers(ctx context.Context, node string) (map[string]string, error)
}

// audit reports node faults of the stack left on the node svc runs on.
func audit(ctx context.Context, env chaos.Env, svc stack.Service) []chaos.Finding {
	nd, ok := env.Stack.(stack.Noder)
	na, ok2 := env.Stack.(NodeAuditor)
	if !ok || !ok2 {
		return nil
	}
	node, err := nd.NodeOf(ctx, svc.Name)
	if err != nil {
		return nil // not bound: no node to have left anything on
	}
	left, err := na.NodeLeftovers(ctx, node)
	if err != nil {
		return []chaos.Finding{{What: "node-unreadable", Where: node, Detail: err.Error()}}
	}
	var out []chaos.Finding
	for what, detail := range left {
		out = append(out, chaos.Finding{What: what, Where: "node " + node, Detail: detail})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].What < out[j].What })
	return out
}

func registerNode(kind, desc string, op stack.NodeOp, mech string, params ...param.Spec) {
	chaos.Register(chaos.Def[NodeSpec]{
		Name: kind, Description: desc, Params: params,
		Needs:      []stack.Capability{stack.CapNodes},
		Mechanisms: []string{mech},
		Audit:      audit,
		Decode: func(v param.Values) (NodeSpec, error) {
			return NodeSpec{Timeout: v.Duration("timeout")}, nil
		},
		Build: func(_ context.Context, env chaos.Env, svc stack.Service, s NodeSpec) (chaos.Fault, error) {
			return &NodeFault{Kind: kind, Action: stack.NodeAction{Op: op, Timeout: s.Timeout}, Service: svc.Name,
				Stack: env.Stack, Deps: env.Deps()}, nil
		},
	})
}

func init() {
	registerNode(KindCordon, "cordon the node the target's pod runs on (unschedulable; running pods stay); revert uncordons it",
		stack.NodeCordon, MechNodeAPI)
	registerNode(KindDrain, "drain the node the target's pod runs on: cordon it and evict its pods through the eviction API, honouring PodDisruptionBudgets; refused when the node runs pods that are not the stack's; revert uncordons it",
		stack.NodeDrain, MechNodeAPI,
		param.Spec{Name: "timeout", Type: param.Duration, Default: DefaultDrainTimeout.String(), Doc: "how long evictions a PodDisruptionBudget refuses are retried"})
	registerNode(KindNodeLoss, "lose the node the target's pod runs on: its heartbeats stop and its Ready condition turns Unknown (simulated kwok nodes only; a real kubelet's node is refused); refused when the node runs pods that are not the stack's; revert makes it Ready again",
		stack.NodeLoss, MechNodeStatus)
	chaos.Register(chaos.Def[struct{}]{
		Name:        KindScaleToZero,
		Description: "scale the Deployment of the target's pod to zero replicas (all of them, not only the target); revert scales it back and waits until they are ready",
		Needs:       []stack.Capability{stack.CapScale},
		Mechanisms:  []string{MechScale},
		Decode:      func(param.Values) (struct{}, error) { return struct{}{}, nil },
		Build: func(_ context.Context, env chaos.Env, svc stack.Service, _ struct{}) (chaos.Fault, error) {
			return &ScaleFault{Service: svc.Name, Stack: env.Stack, Deps: env.Deps()}, nil
		},
	})
}
