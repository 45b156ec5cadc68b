package dockerhost

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"

	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

// UndoSignal is the undo function that signals journaled processes (SIGCONT
// after a SIGSTOP).
const UndoSignal = "process/signal"

// signalState is what UndoSignal needs: the processes with their identity
// and the namespace they must still be in.
type signalState struct {
	Procs     []procfs.Process `json:"procs"`
	Namespace procfs.NSID      `json:"namespace"`
	Signal    int              `json:"signal"`
}

func init() {
	stack.RegisterUndoState(UndoSignal, func(_ context.Context, _ stack.Scope, st signalState) error {
		return procfs.SignalAll(st.Procs, st.Namespace, syscall.Signal(st.Signal))
	})
}

// Check implements stack.UndoChecker: the undo only continues stopped
// processes (SIGCONT), and only in a PID namespace of one of the scope's
// containers. Processes that are all gone took their stop with them.
func (st signalState) Check(ctx context.Context, sc stack.Scope) error {
	if err := stack.CheckContinue(st.Procs, st.Signal); err != nil {
		return err
	}
	return sc.OwnsNamespace(ctx, st.Namespace)
}

// namespace returns the service's running container's PID namespace and
// the processes in it.
func (h *Host) namespace(ctx context.Context, service string) (procfs.NSID, []procfs.Process, error) {
	_, pid, err := h.running(ctx, service)
	if err != nil {
		return procfs.NSID{}, nil, err
	}
	ns, err := pidNamespace(pid)
	if err != nil {
		return ns, nil, fmt.Errorf("%s: %w", service, err)
	}
	ps, err := procfs.InNamespace(pid)
	if err != nil {
		return ns, nil, fmt.Errorf("%s: %w", service, err)
	}
	return ns, ps, nil
}

// Processes implements stack.Processes: the processes of the container's
// own PID namespace (a container sharing the host's is refused).
func (h *Host) Processes(ctx context.Context, service string) ([]stack.Process, error) {
	_, ps, err := h.namespace(ctx, service)
	if err != nil {
		return nil, err
	}
	out := make([]stack.Process, len(ps))
	for i, p := range ps {
		out[i] = stack.Process{PID: p.PID, HostPID: p.HostPID, Start: p.Start, Cmdline: p.Cmdline, State: p.State}
	}
	return out, nil
}

func toProcfs(ps []stack.Process) []procfs.Process {
	out := make([]procfs.Process, len(ps))
	for i, p := range ps {
		out[i] = procfs.Process{HostPID: p.HostPID, PID: p.PID, Start: p.Start, Cmdline: p.Cmdline}
	}
	return out
}

// Signal implements stack.Processes: p must still be the same process and
// in the service's namespace; then it gets sig.
func (h *Host) Signal(ctx context.Context, service string, p stack.Process, sig syscall.Signal) error {
	ns, _, err := h.namespace(ctx, service)
	if err != nil {
		return err
	}
	return procfs.SignalAll(toProcfs([]stack.Process{p}), ns, sig)
}

// SignalUndo implements stack.Processes.
func (h *Host) SignalUndo(ctx context.Context, service string, ps []stack.Process, sig syscall.Signal) (stack.Undo, error) {
	ns, _, err := h.namespace(ctx, service)
	if err != nil {
		return stack.Undo{}, err
	}
	b, err := json.Marshal(signalState{Procs: toProcfs(ps), Namespace: ns, Signal: int(sig)})
	return stack.Undo{Func: UndoSignal, State: b}, err
}
