// Package gpu injects GPU process faults: the processes are found with
// `nvidia-smi --query-compute-apps=pid,process_name,used_memory
// --format=csv,noheader,nounits` run in the target container (docker exec)
// or on the host, mapped to host pids through /proc/*/status NSpid, then
// killed (gpu-kill) or stopped (gpu-hang, reverted with SIGCONT).
package gpu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
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

// Exec runs a command where the GPU processes are visible and returns stdout.
type Exec func(ctx context.Context, argv []string) ([]byte, error)

// HostExec runs on the host with extra environment (e.g. AIUPTIME_RUN_DIR
// for the shim); bin, if set, replaces argv[0] (the nvidia-smi path).
func HostExec(bin string, env []string) Exec {
	return func(ctx context.Context, argv []string) ([]byte, error) {
		if bin != "" {
			argv = append([]string{bin}, argv[1:]...)
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("%s: %w: %s", argv[0], err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
}

// DockerExec runs inside a container (docker exec).
func DockerExec(cli *client.Client, containerID string) Exec {
	return func(ctx context.Context, argv []string) ([]byte, error) {
		ex, err := cli.ContainerExecCreate(ctx, containerID, container.ExecOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
		if err != nil {
			return nil, fmt.Errorf("docker exec %s in %.12s: %w", argv[0], containerID, err)
		}
		att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
		if err != nil {
			return nil, fmt.Errorf("docker exec attach: %w", err)
		}
		defer att.Close()
		var stdout, stderr bytes.Buffer
		if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
			return nil, fmt.Errorf("docker exec read: %w", err)
		}
		ins, err := cli.ContainerExecInspect(ctx, ex.ID)
		if err != nil {
			return nil, fmt.Errorf("docker exec inspect: %w", err)
		}
		if ins.ExitCode != 0 {
			return stdout.Bytes(), fmt.Errorf("%s in %.12s exited %d: %s", argv[0], containerID, ins.ExitCode, strings.TrimSpace(stderr.String()))
		}
		return stdout.Bytes(), nil
	}
}

// Target is where the GPU processes run.
type Target struct {
	Service     string `json:"service"`
	ContainerID string `json:"container_id,omitempty"`
	// PID is the container's main process on the host; 0 on the host itself
	// (nvidia-smi pids are then host pids).
	PID int `json:"pid,omitempty"`
	// Exec runs nvidia-smi (DockerExec or HostExec).
	Exec Exec `json:"-"`
}

// HostProc is a GPU process resolved to the host.
type HostProc struct {
	Process
	HostPID int    `json:"host_pid"`
	Start   uint64 `json:"start"`
}

// Find lists the target's GPU processes with their host pids.
func Find(ctx context.Context, t Target) ([]HostProc, error) {
	if t.Exec == nil {
		return nil, errors.New("gpu target: no way to run nvidia-smi")
	}
	out, err := t.Exec(ctx, QueryArgs)
	if err != nil {
		return nil, fmt.Errorf("list GPU processes of %s: %w", t.Service, err)
	}
	ps, err := ParseComputeApps(out)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s: %w", t.Service, ErrNoGPUProcess)
	}
	var hs []HostProc
	for _, p := range ps {
		hp, err := HostPID(t.PID, p.PID)
		if err != nil {
			return nil, fmt.Errorf("%s: map pid %d (%s): %w", t.Service, p.PID, p.Name, err)
		}
		st, err := chaos.ProcessStartTime(hp)
		if err != nil {
			return nil, fmt.Errorf("%s: pid %d: %w", t.Service, hp, err)
		}
		hs = append(hs, HostProc{Process: p, HostPID: hp, Start: st})
	}
	return hs, nil
}

// HostPID maps nsPID, a pid inside the pid namespace of containerPID, to a
// host pid by scanning /proc/*/status NSpid among processes of that
// namespace only. With containerPID 0 nsPID is a host pid and is checked to
// exist. A pid that is already a host pid of a process in the container's
// namespace (as real nvidia-smi reports) is accepted too.
func HostPID(containerPID, nsPID int) (int, error) {
	if containerPID <= 0 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", nsPID)); err != nil {
			return 0, fmt.Errorf("host pid %d: %w", nsPID, err)
		}
		return nsPID, nil
	}
	want, err := os.Readlink(chaos.NSPath(containerPID, "pid"))
	if err != nil {
		return 0, fmt.Errorf("pid namespace of %d: %w", containerPID, err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		hp, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ns, err := os.Readlink(chaos.NSPath(hp, "pid"))
		if err != nil || ns != want {
			continue
		}
		ids, err := nsPIDs(hp)
		if err != nil || len(ids) == 0 {
			continue
		}
		if ids[len(ids)-1] == nsPID || hp == nsPID {
			return hp, nil
		}
	}
	return 0, fmt.Errorf("pid %d: no process in the pid namespace of %d", nsPID, containerPID)
}

// nsPIDs reads the NSpid line of /proc/PID/status (outermost first).
func nsPIDs(pid int) ([]int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			var ids []int
			for _, f := range strings.Fields(rest) {
				v, err := strconv.Atoi(f)
				if err != nil {
					return nil, err
				}
				ids = append(ids, v)
			}
			return ids, nil
		}
	}
	return nil, fmt.Errorf("/proc/%d/status: no NSpid", pid)
}

// ParseSignal accepts KILL, SIGKILL, 9, TERM, STOP, ...
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return unix.SIGKILL, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal: %d out of range", n)
		}
		return syscall.Signal(n), nil
	}
	sig := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(s), "SIG"))
	if sig == 0 {
		return 0, fmt.Errorf("signal: %q unknown", s)
	}
	return sig, nil
}

// KillSpec is gpu-kill's params.
type KillSpec struct {
	// Signal defaults to KILL.
	Signal string `json:"signal,omitempty"`
}

// Kill signals every GPU process of the target (default SIGKILL). Its
// revert has nothing to undo: the engine's supervisor restarts it.
type Kill struct {
	Spec   KillSpec
	Target Target
	Deps   chaos.Deps

	killed []HostProc
}

var _ chaos.Fault = (*Kill)(nil)

// Name names the fault.
func (f *Kill) Name() string { return "gpu-kill on " + f.Target.Service }

// Mechanism is signal.
func (f *Kill) Mechanism() string { return MechSignal }

// Killed lists the processes signalled.
func (f *Kill) Killed() []HostProc { return f.killed }

type procState struct {
	Procs  []HostProc `json:"procs"`
	Signal int        `json:"signal"`
}

// Describe lists what Inject would do.
func (f *Kill) Describe(ctx context.Context) ([]string, error) {
	sig, err := ParseSignal(f.Spec.Signal)
	if err != nil {
		return nil, err
	}
	ps, err := Find(ctx, f.Target)
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("kill -%s %d (%s, pid %d in %s)", unix.SignalName(sig), p.HostPID, p.Name, p.PID, f.Target.Service))
	}
	return out, err
}

// Inject finds and signals the processes.
func (f *Kill) Inject(ctx context.Context) (chaos.Revert, error) {
	sig, err := ParseSignal(f.Spec.Signal)
	if err != nil {
		return chaos.NoRevert, err
	}
	ps, err := Find(ctx, f.Target)
	if err != nil {
		return chaos.NoRevert, err
	}
	rec := chaos.Record{Kind: "gpu-kill", Target: f.Target.Service, Reverter: "gpu/none", Mechanism: MechSignal}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, procState{Procs: ps, Signal: int(sig)}, func(context.Context) error {
		return signalAll(ps, sig)
	})
	f.killed = ps
	return rev, err
}

func signalAll(ps []HostProc, sig syscall.Signal) error {
	var errs []error
	for _, p := range ps {
		st, err := chaos.ProcessStartTime(p.HostPID)
		if err != nil || st != p.Start {
			continue // gone or recycled
		}
		if err := unix.Kill(p.HostPID, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("signal %d to pid %d: %w", sig, p.HostPID, err))
		}
	}
	return errors.Join(errs...)
}

// Hang stops every GPU process of the target with SIGSTOP: requests hang
// while the server's health endpoint may stay green. The revert sends SIGCONT.
type Hang struct {
	Target Target
	Deps   chaos.Deps

	stopped []HostProc
}

var _ chaos.Fault = (*Hang)(nil)

// Name names the fault.
func (f *Hang) Name() string { return "gpu-hang on " + f.Target.Service }

// Mechanism is signal.
func (f *Hang) Mechanism() string { return MechSignal }

// Stopped lists the processes stopped.
func (f *Hang) Stopped() []HostProc { return f.stopped }

// Describe lists what Inject would do.
func (f *Hang) Describe(ctx context.Context) ([]string, error) {
	ps, err := Find(ctx, f.Target)
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("kill -STOP %d (%s, pid %d in %s); revert: kill -CONT", p.HostPID, p.Name, p.PID, f.Target.Service))
	}
	return out, err
}

// Inject stops the processes.
func (f *Hang) Inject(ctx context.Context) (chaos.Revert, error) {
	ps, err := Find(ctx, f.Target)
	if err != nil {
		return chaos.NoRevert, err
	}
	f.stopped = ps
	rec := chaos.Record{Kind: "gpu-hang", Target: f.Target.Service, Reverter: "gpu/cont", Mechanism: MechSignal}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, procState{Procs: ps, Signal: int(unix.SIGSTOP)}, func(context.Context) error {
		return signalAll(ps, unix.SIGSTOP)
	})
	return rev, err
}

func init() {
	chaos.RegisterReverter("gpu/none", func(context.Context, chaos.Record) error { return nil })
	chaos.RegisterReverter("gpu/cont", func(_ context.Context, rec chaos.Record) error {
		var st procState
		if err := json.Unmarshal(rec.State, &st); err != nil {
			return fmt.Errorf("decode gpu state: %w", err)
		}
		return signalAll(st.Procs, unix.SIGCONT)
	})
}

// StoppedIn lists processes in state T (stopped) in the pid namespace of
// containerPID (or, with 0, the given pids), for doctor.
func StoppedIn(containerPID int) ([]int, error) {
	want, err := os.Readlink(chaos.NSPath(containerPID, "pid"))
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		hp, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink(chaos.NSPath(hp, "pid")); err != nil || ns != want {
			continue
		}
		if s, err := chaos.ProcessState(hp); err == nil && s == "T" {
			out = append(out, hp)
		}
	}
	return out, nil
}
