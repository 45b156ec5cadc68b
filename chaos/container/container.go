// Package container injects lifecycle faults on a service's container (or
// pod) through the stack's lifecycle capability: kill (with a signal),
// stop, pause, restart, and remove. Before acting it journals the
// provider's own undo, so every revert (in process, or `drill cleanup`
// after a crash) brings the service back to running: unpause, start, or
// recreate it from its inspected configuration.
package container

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// MechLifecycle is the mechanism of every container fault: the provider's
// lifecycle API (the Docker Engine for the embedded and attached stacks).
const MechLifecycle = "lifecycle"

// Fault kind names.
const (
	KindKill    = "container-kill"
	KindStop    = "container-stop"
	KindPause   = "container-pause"
	KindRestart = "container-restart"
	KindRemove  = "container-remove"
)

// DefaultStopTimeout is the grace period of stop and restart.
const DefaultStopTimeout = 5 * time.Second

// Fault is one lifecycle operation on a service.
type Fault struct {
	Kind    string
	Action  stack.Action
	Service string
	Stack   stack.Stack
	Deps    chaos.Deps
}

var _ chaos.Fault = (*Fault)(nil)

// Name names the fault.
func (f *Fault) Name() string { return f.Kind + " on " + f.Service }

// Mechanism is lifecycle.
func (f *Fault) Mechanism() string { return MechLifecycle }

// Describe lists what Inject would do.
func (f *Fault) Describe(context.Context) ([]string, error) {
	a := f.Action
	if d, ok := f.Stack.(stack.ActionDescriber); ok {
		return d.DescribeAction(f.Service, a), nil
	}
	what := fmt.Sprintf("%s %s", a.Op, f.Service)
	switch a.Op {
	case stack.OpKill:
		what += " with SIG" + param.SignalName(a.Signal)
	case stack.OpStop, stack.OpRestart:
		what += fmt.Sprintf(" (grace %s before SIGKILL)", a.Timeout)
	}
	return []string{"journal how to bring " + f.Service + " back (inspect its container)", what + "; revert: make it run again (unpause, start, or recreate it the same)"}, nil
}

// Inject journals the provider's undo, then acts.
func (f *Fault) Inject(ctx context.Context) (chaos.Revert, error) {
	lc, ok := f.Stack.(stack.Lifecycle)
	if !ok {
		return chaos.NoRevert, fmt.Errorf("%s: %w", f.Name(), chaos.ErrUnsupported)
	}
	undo, err := lc.UndoOf(ctx, f.Service, f.Action)
	if err != nil {
		return chaos.NoRevert, fmt.Errorf("%s: %w", f.Name(), err)
	}
	rec := chaos.Record{Kind: f.Kind, Target: f.Service, Reverter: undo.Func, Mechanism: MechLifecycle, Sealed: undo.Sealed}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, undo.State, func(ctx context.Context) error {
		return lc.Act(ctx, f.Service, f.Action)
	})
	if err != nil {
		err = fmt.Errorf("%s: %w", f.Name(), err)
	}
	return rev, err
}

// Spec is the params of container faults.
type Spec struct {
	Signal  syscall.Signal
	Timeout time.Duration
}

var timeoutParam = param.Spec{Name: "timeout", Type: param.Duration, Default: DefaultStopTimeout.String(), Doc: "grace period before SIGKILL"}

func register(kind, desc string, op stack.Op, instant bool, params ...param.Spec) {
	chaos.Register(chaos.Def[Spec]{
		Name: kind, Description: desc, Params: params, Instant: instant,
		Needs:      []stack.Capability{stack.CapLifecycle},
		NeedsOps:   []stack.Op{op},
		Mechanisms: []string{MechLifecycle},
		Decode: func(v param.Values) (Spec, error) {
			return Spec{Signal: v.Signal("signal"), Timeout: v.Duration("timeout")}, nil
		},
		Build: func(_ context.Context, env chaos.Env, svc stack.Service, s Spec) (chaos.Fault, error) {
			a := stack.Action{Op: op, Signal: s.Signal, Timeout: s.Timeout}
			if op == stack.OpKill && a.Signal == 0 {
				a.Signal = unix.SIGKILL
			}
			return &Fault{Kind: kind, Action: a, Service: svc.Name, Stack: env.Stack, Deps: env.Deps()}, nil
		},
		Audit: audit,
	})
}

func init() {
	register(KindKill, "kill the target's container with a signal; revert starts it if it stays down", stack.OpKill, true,
		param.Spec{Name: "signal", Type: param.Signal, Default: "KILL", Doc: "signal sent to the container's main process"})
	register(KindStop, "stop the target's container; revert starts it", stack.OpStop, false, timeoutParam)
	register(KindPause, "pause the target's container (freezes every process); revert unpauses it", stack.OpPause, false)
	register(KindRestart, "restart the target's container", stack.OpRestart, true, timeoutParam)
	register(KindRemove, "remove the target's container; revert recreates it with the same name, labels, aliases, mounts and ports", stack.OpRemove, false)
}

// audit reports a service whose container is paused or not running.
func audit(ctx context.Context, env chaos.Env, svc stack.Service) []chaos.Finding {
	rs, err := env.Stack.(stack.Lifecycle).RunState(ctx, svc.Name)
	switch {
	case err != nil:
		return []chaos.Finding{{What: "container-missing", Where: svc.Name, Detail: err.Error()}}
	case rs.Paused:
		return []chaos.Finding{{What: "container-paused", Where: svc.Name, Detail: "paused: `docker unpause`"}}
	case !rs.Running && !rs.Restarting:
		return []chaos.Finding{{What: "container-stopped", Where: svc.Name, Detail: fmt.Sprintf("state %s (exit %d)", rs.Status, rs.ExitCode)}}
	}
	return nil
}
