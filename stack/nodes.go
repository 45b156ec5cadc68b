package stack

import (
	"context"
	"time"
)

// NodeOp is an operation on a cluster node that a service runs on.
type NodeOp string

// Node operations.
const (
	// NodeCordon marks the node unschedulable (`kubectl cordon`).
	NodeCordon NodeOp = "cordon"
	// NodeDrain cordons the node and evicts its pods through the eviction
	// API, which honours PodDisruptionBudgets (`kubectl drain`).
	NodeDrain NodeOp = "drain"
	// NodeLoss makes the node NotReady, as a node that died would be.
	NodeLoss NodeOp = "loss"
)

// NodeAction is one node operation with its options.
type NodeAction struct {
	Op NodeOp
	// Timeout bounds a drain: evictions a PodDisruptionBudget holds back
	// are retried until then, as `kubectl drain --timeout` does.
	Timeout time.Duration
}

// Noder is a provider whose services run on cluster nodes it can act on.
// A fault resolves the node once (NodeOf), journals NodeUndoOf, then acts
// on that node (NodeAct), so all three name the same node.
type Noder interface {
	// NodeOf returns the name of the node the service's pod runs on.
	NodeOf(ctx context.Context, service string) (string, error)
	// NodeUndoOf returns, before a is performed on node, how to bring the
	// node back (for the revert journal).
	NodeUndoOf(ctx context.Context, node string, a NodeAction) (Undo, error)
	// NodeAct performs a on node; the provider refuses a node its
	// services do not run on, and says what else an action would hurt.
	NodeAct(ctx context.Context, node string, a NodeAction) error
	// DescribeNodeAction says what NodeAct would do and how it is undone
	// (for the dry run).
	DescribeNodeAction(node string, a NodeAction) []string
}

// Scaler is a provider that can scale the workload a service belongs to
// (a Kubernetes Deployment): every replica of it, not just the service.
type Scaler interface {
	// ScaleUndoOf returns, before Scale, how to restore the workload's
	// replica count and wait until it is ready (for the revert journal).
	ScaleUndoOf(ctx context.Context, service string) (Undo, error)
	// Scale sets the replica count of the service's workload.
	Scale(ctx context.Context, service string, replicas int32) error
	// Workload names the workload Scale acts on, e.g. "deployment ns/model".
	Workload(ctx context.Context, service string) (string, error)
}
