package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/internal/procfs"
)

// Process is one process of the cluster as the state file records it:
// enough to find it again, prove it is still the one started, and stop it,
// from another process after the one that started it died.
type Process struct {
	// Name is the component: etcd, kube-apiserver, ...
	Name string `json:"name"`
	// PID is the process id; it leads its own process group.
	PID int `json:"pid"`
	// Start is the start time in clock ticks since boot (/proc/PID/stat
	// field 22): with PID, it tells the process from a recycled pid.
	Start uint64 `json:"start"`
	// Args is the command line, as /proc/PID/cmdline must show it.
	Args []string `json:"args"`
	// Ports are the TCP ports it listens on, by purpose.
	Ports map[string]int `json:"ports,omitempty"`
	// Log is the file its stdout and stderr go to.
	Log string `json:"log"`
	// Health is a URL that answers 200 when it is healthy.
	Health string `json:"health,omitempty"`

	done chan struct{} // closed when the process exited (only in the process that started it)
	err  error         // what Wait returned, set before done is closed
}

// Ours reports whether p still runs as the process the cluster started:
// same pid, same start time, same command line, not a zombie.
func (p *Process) Ours() bool {
	if p.PID <= 0 || !procfs.Alive(p.PID, p.Start) {
		return false
	}
	args, err := cmdline(p.PID)
	return err == nil && slices.Equal(args, p.Args)
}

// exited reports whether the process exited, as seen by the process that
// started it; elsewhere it is always false (use Ours).
func (p *Process) exited() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// start starts bin with args in its own process group, its output going to
// logPath, with dir as its working directory. The process is not tied to
// the caller: it outlives it (no context kill, no parent-death signal), as
// `drill kube up` returns while the cluster runs on.
func start(name, bin, dir, logPath string, args []string) (*Process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, PID: cmd.Process.Pid, Args: append([]string{bin}, args...), Log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	// Start returns after the exec succeeded, so /proc shows the new
	// program; the start time was fixed at fork.
	if p.Start, err = procfs.StartTime(p.PID); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("start time of %s (pid %d): %w", name, p.PID, err)
	}
	return p, nil
}

// stopOrder is the order in which Down stops the components, one stage
// after the other: the apiserver's clients first, then the apiserver while
// etcd still answers (its graceful shutdown removes its endpoint lease from
// etcd and hangs when etcd is gone), then etcd. Anything else (strays)
// goes with the first stage.
// The real node's kubelet and kube-proxy go first, then its containerd
// (the shims and pods it leaves are killed by cleanNode).
var stopOrder = [][]string{{Kwok, Scheduler, ControllerManager, Kubelet, KubeProxy}, {Containerd}, {APIServer}, {Etcd}}

// stopAll stops procs stage by stage (stopOrder): SIGTERM to the process
// group of every process of the stage that is still ours, up to grace for
// them to exit, then SIGKILL for what is left. A process that is gone (or
// whose pid now belongs to another program) counts as stopped.
func stopAll(ctx context.Context, log *slog.Logger, procs []Process, grace time.Duration) error {
	stageOf := func(name string) int {
		for i, st := range stopOrder {
			if slices.Contains(st, name) {
				return i
			}
		}
		return 0
	}
	for i := range stopOrder {
		var stage []Process
		for _, p := range procs {
			if stageOf(p.Name) == i {
				stage = append(stage, p)
			}
		}
		if err := stopStage(ctx, log, stage, grace); err != nil {
			return err
		}
	}
	return nil
}

func stopStage(ctx context.Context, log *slog.Logger, procs []Process, grace time.Duration) error {
	signalAll := func(sig unix.Signal) {
		for _, p := range procs {
			if p.Ours() {
				signalGroup(p.PID, sig)
			}
		}
	}
	signalAll(unix.SIGTERM)
	err := waitGone(ctx, procs, grace)
	if err == nil {
		return nil
	}
	log.Warn("SIGKILL after the stop grace", "grace", grace, "err", err)
	signalAll(unix.SIGKILL)
	if err := waitGone(ctx, procs, killWait); err != nil {
		return fmt.Errorf("after SIGKILL: %w", err)
	}
	return nil
}

// killWait is how long stopAll waits for SIGKILLed processes to go.
const killWait = 10 * time.Second

// signalGroup signals the process group pid leads, or pid alone when it
// leads none (it was started by us with Setpgid, so it should).
func signalGroup(pid int, sig unix.Signal) {
	if pg, err := unix.Getpgid(pid); err == nil && pg == pid {
		_ = unix.Kill(-pid, sig)
		return
	}
	_ = unix.Kill(pid, sig)
}

// waitGone polls until none of procs is ours any more, or d passed.
func waitGone(ctx context.Context, procs []Process, d time.Duration) error {
	return poll(ctx, d, func() error {
		var left []string
		for _, p := range procs {
			if p.Ours() {
				left = append(left, fmt.Sprintf("%s (pid %d)", p.Name, p.PID))
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("still running: %s", strings.Join(left, ", "))
		}
		return nil
	})
}

// Strays lists the processes that run one of the cluster's binaries
// (by the base name of argv[0]) with an argument under dir: those the
// state file may have missed (a SIGKILL between a process's start and its
// record). Every component is given a path under its state dir.
func Strays(dir string) ([]Process, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan /proc: %w", err)
	}
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	var out []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		args, err := cmdline(pid)
		if err != nil || len(args) == 0 || (!slices.Contains(components, filepath.Base(args[0])) && !slices.Contains(nodeComponents, filepath.Base(args[0]))) {
			continue
		}
		if !slices.ContainsFunc(args[1:], func(a string) bool { return strings.Contains(a, prefix) }) {
			continue
		}
		st, err := procfs.StartTime(pid)
		if err != nil || !procfs.Alive(pid, st) {
			continue
		}
		out = append(out, Process{Name: filepath.Base(args[0]), PID: pid, Start: st, Args: args})
	}
	return out, nil
}

// cmdline returns the arguments of pid from /proc/PID/cmdline.
func cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil, errors.New("empty command line (kernel thread or zombie)")
	}
	return strings.Split(string(b), "\x00"), nil
}

// RSS returns the resident set size of pid in bytes (VmRSS in
// /proc/PID/status).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("/proc/%d/status: odd VmRSS %q", pid, rest)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// tail returns the last n bytes of the file at path, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, 0)
	}
	b := make([]byte, n)
	k, _ := f.Read(b)
	return strings.TrimSpace(string(b[:k]))
}

// pollInterval is the pause between two checks of a condition.
const pollInterval = 50 * time.Millisecond

// poll calls f until it returns nil, ctx ends, or d passed; it returns f's
// last error (wrapped) when it gives up.
func poll(ctx context.Context, d time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", context.Cause(ctx), err)
		case <-t.C:
		}
	}
}
