package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	apitypes "k8s.io/apimachinery/pkg/types"

	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

// UndoSignal is the undo function that continues journaled processes of a
// pod's container on this node (SIGCONT after a SIGSTOP).
const UndoSignal = "kubernetes/signal"

// signalState is what UndoSignal needs: the processes with their identity,
// the PID namespace they must still be in, and the pod they belong to.
type signalState struct {
	Conn      Conn             `json:"conn"`
	Namespace string           `json:"namespace"`
	Pod       string           `json:"pod"`
	PodUID    apitypes.UID     `json:"pod_uid"`
	Role      stack.Role       `json:"role"`
	Select    RoleSelector     `json:"select"`
	Procs     []procfs.Process `json:"procs"`
	PIDNS     procfs.NSID      `json:"pid_ns"`
	Signal    int              `json:"signal"`
}

func init() {
	stack.RegisterUndoState(UndoSignal, func(_ context.Context, _ stack.Scope, st signalState) error {
		return procfs.SignalAll(st.Procs, st.PIDNS, syscall.Signal(st.Signal))
	})
}

// Check implements stack.UndoChecker: only SIGCONT is replayed, only to
// processes that are still alive, and only while their pod (same UID) is
// in a namespace that opts in and matches its role's selector.
func (st signalState) Check(ctx context.Context, sc stack.Scope) error {
	if err := stack.CheckContinue(st.Procs, st.Signal); err != nil {
		return err
	}
	cli, err := st.Conn.Client()
	if err != nil {
		return err
	}
	if err := checkNamespace(ctx, cli, st.Namespace); err != nil {
		return stack.Untrusted("%v", err)
	}
	ns, err := cli.CoreV1().Namespaces().Get(ctx, st.Namespace, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("namespace %s: %w", st.Namespace, err)
	}
	if err := sc.CarriesLabels(ns.Labels); err != nil {
		return fmt.Errorf("namespace %s: %w", st.Namespace, err)
	}
	p, err := cli.CoreV1().Pods(st.Namespace).Get(ctx, st.Pod, metav1.GetOptions{})
	if isNotFound(err) || (err == nil && p.UID != st.PodUID) {
		return stack.ErrGone
	}
	if err != nil {
		return fmt.Errorf("pod %s/%s: %w", st.Namespace, st.Pod, err)
	}
	sel, err := resolveSelector(ctx, cli, st.Namespace, st.Select)
	if err != nil {
		return stack.Untrusted("role %s: %v", st.Role, err)
	}
	if !sel.Matches(labels.Set(p.Labels)) {
		return stack.Untrusted("pod %s/%s no longer matches role %s's %s", st.Namespace, st.Pod, st.Role, st.Select)
	}
	return nil
}

func toProcfs(ps []stack.Process) []procfs.Process {
	out := make([]procfs.Process, len(ps))
	for i, p := range ps {
		out[i] = procfs.Process{HostPID: p.HostPID, PID: p.PID, Start: p.Start, Cmdline: p.Cmdline}
	}
	return out
}

// Signal implements stack.Processes: p must still be the same process
// (pid and start time) and in the container's PID namespace.
func (n *NodeStack) Signal(ctx context.Context, service string, p stack.Process, sig syscall.Signal) error {
	ns, _, _, err := n.namespace(ctx, service)
	if err != nil {
		return err
	}
	return procfs.SignalAll(toProcfs([]stack.Process{p}), ns, sig)
}

// SignalUndo implements stack.Processes.
func (n *NodeStack) SignalUndo(ctx context.Context, service string, ps []stack.Process, sig syscall.Signal) (stack.Undo, error) {
	ns, _, pod, err := n.namespace(ctx, service)
	if err != nil {
		return stack.Undo{}, err
	}
	svc, _, err := n.lookup(ctx, service)
	if err != nil {
		return stack.Undo{}, err
	}
	b, err := json.Marshal(signalState{Conn: n.o.conn, Namespace: pod.Namespace, Pod: pod.Name, PodUID: pod.UID,
		Role: svc.Role, Select: n.o.roles[svc.Role], Procs: toProcfs(ps), PIDNS: ns, Signal: int(sig)})
	return stack.Undo{Func: UndoSignal, State: b}, err
}
