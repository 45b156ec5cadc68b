// Package procfs reads what the harness needs from /proc: a process's start
// time (which tells a live process from a recycled pid), its state, its
// command line, its namespaces, and the processes of one PID namespace with
// their pids inside it.
package procfs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// NSPath returns /proc/PID/ns/KIND.
func NSPath(pid int, kind string) string { return fmt.Sprintf("/proc/%d/ns/%s", pid, kind) }

// NSID identifies a namespace (device and inode of its /proc file).
type NSID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// NamespaceOf identifies the namespace file at path (e.g. /proc/42/ns/pid).
func NamespaceOf(path string) (NSID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return NSID{}, err
	}
	return NSID{Dev: uint64(st.Dev), Ino: st.Ino}, nil
}

// stat returns the fields of /proc/PID/stat after the command name.
func stat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return nil, fmt.Errorf("parse /proc/%d/stat: short", pid)
	}
	return f, nil
}

// StartTime returns field 22 of /proc/PID/stat (start time in clock
// ticks since boot).
func StartTime(pid int) (uint64, error) {
	f, err := stat(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// State returns the one-letter state of a process (R, S, T, Z, ...).
func State(pid int) (string, error) {
	f, err := stat(pid)
	if err != nil {
		return "", err
	}
	return f[0], nil
}

// Alive reports whether pid is the process that started at start and
// still runs: a zombie (exited, not yet reaped) is not alive.
func Alive(pid int, start uint64) bool {
	f, err := stat(pid)
	if err != nil || f[0] == "Z" || f[0] == "X" {
		return false
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	return err == nil && st == start
}

// running reports whether pid exists and is no zombie.
func running(pid int) bool {
	f, err := stat(pid)
	return err == nil && f[0] != "Z" && f[0] != "X"
}

// Cmdline returns the command line with spaces between the arguments.
func Cmdline(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")), nil
}

// NSPids reads the NSpid line of /proc/PID/status: the pid in each nested
// PID namespace, outermost first.
func NSPids(pid int) ([]int, error) {
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

// Process is a process of a PID namespace.
type Process struct {
	// HostPID is the pid in the host's (the harness's) PID namespace.
	HostPID int `json:"host_pid"`
	// PID is the pid inside the namespace.
	PID int `json:"pid"`
	// Start is the start time in clock ticks (with HostPID, an identity).
	Start   uint64 `json:"start"`
	Cmdline string `json:"cmdline"`
	State   string `json:"state"`
}

// ErrNoNamespace means the namespace's reference process is gone.
var ErrNoNamespace = errors.New("pid namespace gone")

// InNamespace lists the processes in the PID namespace of ref (a host pid
// inside it, such as a container's main process), by scanning /proc.
func InNamespace(ref int) ([]Process, error) {
	want, err := NamespaceOf(NSPath(ref, "pid"))
	if err != nil {
		return nil, fmt.Errorf("pid namespace of %d: %w: %v", ref, ErrNoNamespace, err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, e := range ents {
		hp, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if id, err := NamespaceOf(NSPath(hp, "pid")); err != nil || id != want {
			continue
		}
		p, err := describe(hp)
		if err != nil {
			continue // exited while we looked
		}
		out = append(out, p)
	}
	return out, nil
}

func describe(hp int) (Process, error) {
	f, err := stat(hp)
	if err != nil {
		return Process{}, err
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return Process{}, err
	}
	ids, err := NSPids(hp)
	if err != nil || len(ids) == 0 {
		return Process{}, fmt.Errorf("pid %d: no NSpid", hp)
	}
	cmd, _ := Cmdline(hp)
	return Process{HostPID: hp, PID: ids[len(ids)-1], Start: start, Cmdline: cmd, State: f[0]}, nil
}

// Signal sends sig to p if it is still the same process (same start time)
// and still in the namespace ns. A process that is gone is no error.
func Signal(p Process, ns NSID, sig unix.Signal) error {
	if !Alive(p.HostPID, p.Start) {
		return nil
	}
	if id, err := NamespaceOf(NSPath(p.HostPID, "pid")); err != nil || id != ns {
		return nil // gone, or recycled into another namespace
	}
	if err := unix.Kill(p.HostPID, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %s to pid %d: %w", unix.SignalName(sig), p.HostPID, err)
	}
	return nil
}

// SignalAll sends sig to each of ps (Signal) and joins the errors.
func SignalAll(ps []Process, ns NSID, sig unix.Signal) error {
	var errs []error
	for _, p := range ps {
		if err := Signal(p, ns, sig); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ErrHostNamespace refuses to act in the host's own namespace.
var ErrHostNamespace = errors.New("refusing to act on the host namespace")

// CheckNotHost returns an error wrapping ErrHostNamespace when the
// namespace at path (e.g. /proc/PID/ns/net) is the one of pid 1 or of this
// process; kind is "net", "mnt" or "pid".
func CheckNotHost(path, kind string) error {
	id, err := NamespaceOf(path)
	if err != nil {
		return fmt.Errorf("inspect namespace %s: %w", path, err)
	}
	self := "/proc/self/ns/" + kind
	for _, ref := range []string{NSPath(1, kind), self} {
		rid, err := NamespaceOf(ref)
		if err != nil {
			if ref != self && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)) {
				continue // pid 1 is outside our reach (a sandbox); ours is still compared
			}
			return fmt.Errorf("inspect namespace %s: %w", ref, err)
		}
		if rid == id {
			return fmt.Errorf("%w: %s is the same %s namespace as %s (a fault there would hit the host itself)", ErrHostNamespace, path, kind, ref)
		}
	}
	return nil
}
