// Package process is the process-kill fault kind: it sends a signal to the
// processes of one service whose command line matches a regular expression,
// found inside the service's own PID namespace through the stack's
// processes capability, so it can aim at the engine core of a server
// without a GPU in sight (or at any worker a drill wants to kill).
package process

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// Kind is the fault kind's name.
const Kind = "process-kill"

// MechSignal is the mechanism: a signal to each matched process.
const MechSignal = "signal"

// Spec is process-kill's params.
type Spec struct {
	// Match is matched against each process's command line.
	Match *regexp.Regexp
	// Signal is sent to every match.
	Signal syscall.Signal
}

// notKill are signals that leave a process stopped or do nothing that
// ends it: the kind acts once and journals nothing to undo.
var notKill = map[syscall.Signal]bool{unix.SIGSTOP: true, unix.SIGTSTP: true, unix.SIGTTIN: true, unix.SIGTTOU: true, unix.SIGCONT: true}

func init() {
	chaos.Register(chaos.Def[Spec]{
		Name:        Kind,
		Description: "signal the processes of a service whose command line matches, inside the service's own PID namespace (e.g. the engine core)",
		Params: []param.Spec{
			{Name: "match", Type: param.Regexp, Required: true, Doc: "regular expression matched against each process's command line, e.g. EngineCore"},
			{Name: "signal", Type: param.Signal, Default: "KILL", Doc: "signal sent to every matching process (not STOP or CONT: use gpu-hang to freeze)"},
		},
		Needs:      []stack.Capability{stack.CapProcesses},
		Mechanisms: []string{MechSignal},
		Instant:    true,
		Decode: func(v param.Values) (Spec, error) {
			s := Spec{Match: v.Regexp("match"), Signal: v.Signal("signal")}
			if notKill[s.Signal] {
				return s, &param.Error{Param: "signal", Msg: fmt.Sprintf("SIG%s does not end a process; process-kill leaves nothing in force to revert", param.SignalName(s.Signal))}
			}
			return s, nil
		},
		Build: func(_ context.Context, env chaos.Env, svc stack.Service, s Spec) (chaos.Fault, error) {
			return &Fault{Spec: s, Service: svc.Name, Stack: env.Stack, Deps: env.Deps()}, nil
		},
	})
}

// Fault signals the matching processes of one service.
type Fault struct {
	Spec    Spec
	Service string
	Stack   stack.Stack
	Deps    chaos.Deps

	signalled []stack.Process
}

var _ chaos.Fault = (*Fault)(nil)

// ErrNoMatch means no process of the service matched.
var ErrNoMatch = errors.New("no process matches")

// Name names the fault.
func (f *Fault) Name() string { return Kind + " on " + f.Service }

// Mechanism is signal.
func (f *Fault) Mechanism() string { return MechSignal }

// Signalled lists the processes signalled (after Inject).
func (f *Fault) Signalled() []stack.Process { return f.signalled }

// find lists the service's processes whose command line matches.
func (f *Fault) find(ctx context.Context) ([]stack.Process, error) {
	pr, ok := f.Stack.(stack.Processes)
	if !ok {
		return nil, fmt.Errorf("%s: %w", f.Name(), chaos.ErrUnsupported)
	}
	all, err := pr.Processes(ctx, f.Service)
	if err != nil {
		return nil, err
	}
	var out []stack.Process
	var seen []string
	for _, p := range all {
		if f.Spec.Match.MatchString(p.Cmdline) {
			out = append(out, p)
		}
		seen = append(seen, p.Cmdline)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w %q (its processes: %s)", f.Name(), ErrNoMatch, f.Spec.Match, strings.Join(seen, "; "))
	}
	return out, nil
}

// Describe lists what Inject would do.
func (f *Fault) Describe(ctx context.Context) ([]string, error) {
	ps, err := f.find(ctx)
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("kill -%s %d (%s; pid %d in the PID namespace of %s)", param.SignalName(f.Spec.Signal), p.HostPID, p.Cmdline, p.PID, f.Service))
	}
	return out, err
}

// Inject finds the processes, journals them, and signals each.
func (f *Fault) Inject(ctx context.Context) (chaos.Revert, error) {
	ps, err := f.find(ctx)
	if err != nil {
		return chaos.NoRevert, err
	}
	pr := f.Stack.(stack.Processes)
	rec := chaos.Record{Kind: Kind, Target: f.Service, Reverter: chaos.RevertNothing, Mechanism: MechSignal}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, ps, func(ctx context.Context) error {
		var errs []error
		for _, p := range ps {
			errs = append(errs, pr.Signal(ctx, f.Service, p, f.Spec.Signal))
		}
		return errors.Join(errs...)
	})
	f.signalled = ps
	return rev, err
}
