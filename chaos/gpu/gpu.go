// Package gpu injects GPU process faults: the processes are found with
// `nvidia-smi --query-compute-apps=pid,process_name,used_memory
// --format=csv,noheader,nounits` run inside the target service (the stack's
// exec capability), matched against the processes of the service's own PID
// namespace (its processes capability), then killed (gpu-kill) or stopped
// (gpu-hang, reverted with SIGCONT). A pid nvidia-smi prints that is not a
// process of the service is refused: host processes are never signalled.
//
// A server kind that names its engine process (stack.Server.Engine, such
// as Ollama's `ollama runner` child) has no nvidia-smi to ask: its engine
// is the processes of the service's PID namespace with that command line.
package gpu

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// Mechanisms.
const (
	MechSignal = "signal"
)

// QueryArgs is the nvidia-smi invocation (the real tool's flags).
var QueryArgs = []string{"nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader,nounits"}

// Process is one GPU compute app as nvidia-smi lists it.
type Process struct {
	// PID as nvidia-smi printed it (in the namespace it ran in).
	PID  int    `json:"pid"`
	Name string `json:"process_name"`
	// UsedMemoryMiB is -1 when nvidia-smi says [N/A] or [Not Supported].
	UsedMemoryMiB int64 `json:"used_memory_mib"`
}

// ErrNoGPUProcess means nvidia-smi listed no compute app.
var ErrNoGPUProcess = errors.New("no GPU compute process found")

// ParseComputeApps parses nvidia-smi's csv (with or without header and
// units). The process name may contain commas: pid is the first field and
// memory the last.
func ParseComputeApps(out []byte) ([]Process, error) {
	var ps []Process
	for n, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "pid,") || strings.HasPrefix(strings.ToLower(line), "no running") {
			continue
		}
		first := strings.IndexByte(line, ',')
		last := strings.LastIndexByte(line, ',')
		if first < 0 || first == last {
			return ps, fmt.Errorf("nvidia-smi line %d: want 3 fields, got %q", n+1, line)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(line[:first]))
		if err != nil || pid <= 0 {
			return ps, fmt.Errorf("nvidia-smi line %d: bad pid in %q", n+1, line)
		}
		name := strings.TrimSpace(line[first+1 : last])
		mem := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line[last+1:]), "MiB"))
		m := int64(-1)
		if !strings.HasPrefix(mem, "[") {
			v, err := strconv.ParseInt(mem, 10, 64)
			if err != nil || v < 0 {
				return ps, fmt.Errorf("nvidia-smi line %d: bad used_memory in %q", n+1, line)
			}
			m = v
		}
		ps = append(ps, Process{PID: pid, Name: name, UsedMemoryMiB: m})
	}
	return ps, nil
}

// Find lists the service's GPU processes: nvidia-smi runs inside the
// service (exec), and every pid it prints must be a process of the
// service's own PID namespace (as the namespace numbers it, or as the host
// does, as real nvidia-smi may): a pid outside it is refused, never
// signalled.
//
// When the service's kind of server names its engine process, that
// process is the one found, and nvidia-smi is not run.
func Find(ctx context.Context, st stack.Stack, service string) ([]stack.Process, error) {
	ex, ok := st.(stack.Execer)
	pr, ok2 := st.(stack.Processes)
	if !ok || !ok2 {
		return nil, fmt.Errorf("%s: %w", service, chaos.ErrUnsupported)
	}
	svc, err := st.Service(ctx, service)
	if err != nil {
		return nil, err
	}
	if srv := stack.ServerOf(svc); len(srv.Engine) > 0 {
		return findEngine(ctx, pr, service, srv)
	}
	out, err := ex.Exec(ctx, service, QueryArgs)
	if err != nil {
		return nil, fmt.Errorf("list GPU processes of %s: %w", service, err)
	}
	gps, err := ParseComputeApps(out)
	if err != nil {
		return nil, err
	}
	if len(gps) == 0 {
		return nil, fmt.Errorf("%s: %w", service, ErrNoGPUProcess)
	}
	procs, err := pr.Processes(ctx, service)
	if err != nil {
		return nil, err
	}
	var found []stack.Process
	for _, g := range gps {
		p, ok := match(procs, g.PID)
		if !ok {
			return nil, fmt.Errorf("%s: nvidia-smi lists pid %d (%s), which is no process of the service's PID namespace: %w", service, g.PID, g.Name, chaos.ErrNotInStack)
		}
		found = append(found, p)
	}
	return found, nil
}

// findEngine lists the service's processes whose command line starts the
// server's engine (no nvidia-smi: the server says which process it is).
func findEngine(ctx context.Context, pr stack.Processes, service string, srv stack.Server) ([]stack.Process, error) {
	procs, err := pr.Processes(ctx, service)
	if err != nil {
		return nil, err
	}
	var found []stack.Process
	for _, p := range procs {
		if srv.IsEngine(p.Cmdline) {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%s: no %q process (the %s engine; it starts with the first request after a model load): %w",
			service, strings.Join(srv.Engine, " "), srv.Name, ErrNoGPUProcess)
	}
	return found, nil
}

func match(ps []stack.Process, pid int) (stack.Process, bool) {
	for _, p := range ps {
		if p.PID == pid || (p.HostPID != 0 && p.HostPID == pid) {
			return p, true
		}
	}
	return stack.Process{}, false
}

// KillSpec is gpu-kill's params.
type KillSpec struct {
	// Signal defaults to SIGKILL.
	Signal syscall.Signal `json:"signal,omitempty"`
}

// Kill signals every GPU process of the target (default SIGKILL). Its
// revert has nothing to undo: the engine's supervisor restarts it.
type Kill struct {
	Spec    KillSpec
	Service string
	Stack   stack.Stack
	Deps    chaos.Deps

	killed []stack.Process
}

var _ chaos.Fault = (*Kill)(nil)

// Name names the fault.
func (f *Kill) Name() string { return "gpu-kill on " + f.Service }

// Mechanism is signal.
func (f *Kill) Mechanism() string { return MechSignal }

// Killed lists the processes signalled.
func (f *Kill) Killed() []stack.Process { return f.killed }

func (f *Kill) signal() syscall.Signal {
	if f.Spec.Signal == 0 {
		return unix.SIGKILL
	}
	return f.Spec.Signal
}

type procState struct {
	Procs  []stack.Process `json:"procs"`
	Signal int             `json:"signal"`
}

// Describe lists what Inject would do.
func (f *Kill) Describe(ctx context.Context) ([]string, error) {
	return describe(ctx, f.Stack, f.Service, func(p stack.Process) string {
		return fmt.Sprintf("kill -%s %d (%s; pid %d in the PID namespace of %s)", param.SignalName(f.signal()), p.HostPID, p.Cmdline, p.PID, f.Service)
	})
}

// describe is one line per GPU process of the service, and Find's error.
func describe(ctx context.Context, st stack.Stack, service string, line func(stack.Process) string) ([]string, error) {
	ps, err := Find(ctx, st, service)
	var out []string
	for _, p := range ps {
		out = append(out, line(p))
	}
	return out, err
}

// Inject finds and signals the processes.
func (f *Kill) Inject(ctx context.Context) (chaos.Revert, error) {
	ps, err := Find(ctx, f.Stack, f.Service)
	if err != nil {
		return chaos.NoRevert, err
	}
	pr := f.Stack.(stack.Processes)
	rec := chaos.Record{Kind: KindKill, Target: f.Service, Reverter: "gpu/none", Mechanism: MechSignal}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, procState{Procs: ps, Signal: int(f.signal())}, func(ctx context.Context) error {
		return signalAll(ctx, pr, f.Service, ps, f.signal())
	})
	f.killed = ps
	return rev, err
}

func signalAll(ctx context.Context, pr stack.Processes, service string, ps []stack.Process, sig syscall.Signal) error {
	var errs []error
	for _, p := range ps {
		if err := pr.Signal(ctx, service, p, sig); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Hang stops every GPU process of the target with SIGSTOP: requests hang
// while the server's health endpoint may stay green. The revert sends
// SIGCONT (journaled as the stack's own signal undo, so `drill cleanup`
// continues them after a crash).
type Hang struct {
	Service string
	Stack   stack.Stack
	Deps    chaos.Deps

	stopped []stack.Process
}

var _ chaos.Fault = (*Hang)(nil)

// Name names the fault.
func (f *Hang) Name() string { return "gpu-hang on " + f.Service }

// Mechanism is signal.
func (f *Hang) Mechanism() string { return MechSignal }

// Stopped lists the processes stopped.
func (f *Hang) Stopped() []stack.Process { return f.stopped }

// Describe lists what Inject would do.
func (f *Hang) Describe(ctx context.Context) ([]string, error) {
	return describe(ctx, f.Stack, f.Service, func(p stack.Process) string {
		return fmt.Sprintf("kill -STOP %d (%s; pid %d in the PID namespace of %s); revert: kill -CONT", p.HostPID, p.Cmdline, p.PID, f.Service)
	})
}

// Inject stops the processes.
func (f *Hang) Inject(ctx context.Context) (chaos.Revert, error) {
	ps, err := Find(ctx, f.Stack, f.Service)
	if err != nil {
		return chaos.NoRevert, err
	}
	pr := f.Stack.(stack.Processes)
	undo, err := pr.SignalUndo(ctx, f.Service, ps, unix.SIGCONT)
	if err != nil {
		return chaos.NoRevert, err
	}
	f.stopped = ps
	rec := chaos.Record{Kind: KindHang, Target: f.Service, Reverter: undo.Func, Mechanism: MechSignal}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, undo.State, func(ctx context.Context) error {
		return signalAll(ctx, pr, f.Service, ps, unix.SIGSTOP)
	})
	return rev, err
}

func init() {
	chaos.RegisterReverter("gpu/none", func(context.Context, chaos.Record) error { return nil })
}
