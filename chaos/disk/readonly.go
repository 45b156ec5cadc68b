package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/files"
	"github.com/aiuptime/aiuptime/internal/procfs"
)

// ReadOnly makes writes to the volume fail inside the container. First
// choice: remount the volume's bind mount read-only inside the container's
// mount namespace (writes fail with EROFS; the host keeps its view).
// Equivalent to: nsenter -t PID -m mount -o remount,bind,ro MOUNTPATH
// The kernel refuses that (EBUSY) while a process holds a file open for
// writing there (a database): then every file and directory of the volume
// gets the immutable attribute, so writes even through open descriptors
// fail with EPERM (equivalent to: chattr -R +i HOSTPATH); the revert clears
// exactly the attributes it set. Mechanism() says which one was used.
type ReadOnly struct {
	Spec   Spec
	Target Target
	Deps   chaos.Deps

	mech string
}

var _ chaos.Fault = (*ReadOnly)(nil)

// MechImmutable is the fallback of disk-readonly when the mount is busy.
const MechImmutable = "chattr-immutable"

// Name names the fault.
func (f *ReadOnly) Name() string { return "disk-readonly on " + f.Target.Service + " " + f.Spec.Volume }

// Mechanism is bind-remount-ro, or chattr-immutable when the mount was busy.
func (f *ReadOnly) Mechanism() string {
	if f.mech == "" {
		return MechRemount
	}
	return f.mech
}

type roState struct {
	PID       int    `json:"pid"`
	PIDStart  uint64 `json:"pid_start"`
	MountPath string `json:"mount_path"`
	// Immutable lists the host paths that got the immutable attribute
	// (fallback); empty when the remount was used.
	Immutable []string `json:"immutable,omitempty"`
	// Volume is the volume's host path: the revert resolves every path of
	// Immutable beneath it without following links (empty in records of
	// older versions).
	Volume string `json:"volume,omitempty"`
}

// Describe lists what Inject would do.
func (f *ReadOnly) Describe(context.Context) ([]string, error) {
	return []string{
		fmt.Sprintf("in the mount namespace of pid %d (%s): mount -o remount,bind,ro %s", f.Target.PID, f.Target.Service, f.Target.MountPath),
		fmt.Sprintf("if busy (files open for writing): chattr +i on every file and directory under %s", f.Target.HostPath),
	}, nil
}

// Inject makes the volume read-only.
func (f *ReadOnly) Inject(ctx context.Context) (chaos.Revert, error) {
	if err := f.Spec.Validate(); err != nil {
		return chaos.NoRevert, err
	}
	if f.Target.PID <= 0 || f.Target.MountPath == "" {
		return chaos.NoRevert, fmt.Errorf("disk-readonly on %s: needs the container pid and mount path: %w", f.Target.Service, chaos.ErrUnsupported)
	}
	if err := procfs.CheckNotHost(procfs.NSPath(f.Target.PID, "mnt"), "mnt"); err != nil {
		return chaos.NoRevert, fmt.Errorf("disk-readonly on %s: %w", f.Target.Service, err)
	}
	// Check the volume first: the immutable fallback walks it.
	vol, _, err := f.Target.beneath(KindReadOnly, "", f.Deps.Log)
	if err != nil {
		return chaos.NoRevert, err
	}
	defer vol.Close()
	st := roState{PID: f.Target.PID, PIDStart: f.Target.PIDStart, MountPath: f.Target.MountPath, Volume: vol.Name()}
	if st.PIDStart == 0 {
		s, err := procfs.StartTime(st.PID)
		if err != nil {
			return chaos.NoRevert, err
		}
		st.PIDStart = s
	}
	rec := chaos.Record{Kind: "disk-readonly", Target: f.Target.Service, Reverter: "disk/readonly", Mechanism: MechRemount, RunID: f.Deps.RunID}
	e, err := f.Deps.Journal.Begin(rec, st)
	if err != nil {
		return chaos.NoRevert, err
	}
	f.mech = MechRemount
	err = remount(st.PID, st.MountPath, true)
	if err == nil || !errors.Is(err, unix.EBUSY) {
		return e.Revert(), err
	}
	return e.Revert(), f.immutable(e, st, vol)
}

// immutable is the fallback for a busy mount: it lists the volume's files
// and directories (by descriptor, no link followed), journals them, then
// sets their immutable attribute, each opened beneath the volume.
func (f *ReadOnly) immutable(e *chaos.Entry, st roState, vol *files.Root) error {
	rels, err := mutablePaths(vol)
	if err != nil {
		return fmt.Errorf("disk-readonly on %s: list %s: %w", f.Target.Service, vol.Name(), err)
	}
	for _, rel := range rels {
		st.Immutable = append(st.Immutable, filepath.Join(vol.Name(), rel))
	}
	f.mech = MechImmutable
	if err := e.UpdateRecord(func(r *chaos.Record) { r.Mechanism = MechImmutable }, st); err != nil {
		return err
	}
	f.Deps.Logger().Info("bind mount busy (files open for writing); using immutable attributes", "target", f.Target.Service, "files", len(rels))
	// Files first, directories last (deepest first was listed last).
	for i := len(rels) - 1; i >= 0; i-- {
		if err := setImmutableAt(vol, rels[i], true); err != nil {
			return fmt.Errorf("disk-readonly on %s: chattr +i %s: %w", f.Target.Service, st.Immutable[i], err)
		}
	}
	return nil
}

// mutablePaths lists the regular files and directories beneath vol (the
// root first, as ".") that are not already immutable.
func mutablePaths(vol *files.Root) ([]string, error) {
	var out []string
	err := vol.Walk(".", func(e *files.Entry) error {
		if !e.IsDir() && !e.Type().IsRegular() {
			return nil
		}
		if imm, err := entryImmutable(e); err == nil && !imm {
			out = append(out, e.Path())
		}
		return nil
	})
	return out, err
}

// attrFlags reads the inode flags of f (FS_IOC_GETFLAGS).
func attrFlags(f *os.File) (int, error) { return unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS) }

func entryImmutable(e *files.Entry) (bool, error) {
	f, err := e.OpenFile(os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fl, err := attrFlags(f)
	return fl&fsImmutableFL != 0, err
}

// setImmutableAt sets or clears the immutable attribute of rel beneath vol
// (chattr +i / -i); a link there is files.ErrSymlink.
func setImmutableAt(vol *files.Root, rel string, on bool) error {
	f, err := vol.OpenFile(rel, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return setImmutable(f, on)
}

// setImmutable sets or clears the immutable attribute of the open file f.
func setImmutable(f *os.File, on bool) error {
	fl, err := attrFlags(f)
	if err != nil {
		return err
	}
	nfl := fl &^ fsImmutableFL
	if on {
		nfl = fl | fsImmutableFL
	}
	if nfl == fl {
		return nil
	}
	return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, nfl)
}

// Immutable lists immutable files and directories under hostPath, for
// doctor (walked by descriptor; links are not followed).
func Immutable(hostPath string) ([]string, error) {
	vol, err := files.OpenRoot(hostPath)
	if err != nil {
		return nil, err
	}
	defer vol.Close()
	var out []string
	err = vol.Walk(".", func(e *files.Entry) error {
		if e.IsDir() || e.Type().IsRegular() {
			if imm, err := entryImmutable(e); err == nil && imm {
				out = append(out, filepath.Join(hostPath, e.Path()))
			}
		}
		return nil
	})
	return out, err
}

// revertReadOnly clears exactly the attributes it set, each path opened
// beneath the volume (a link there is refused, never followed; a path gone
// is done), then remounts read-write if the remount was used.
func revertReadOnly(_ context.Context, st roState) error {
	var errs []error
	for _, p := range st.Immutable {
		vol, rel, err := openBeneath(st.Volume, p, false)
		if err == nil {
			err = setImmutableAt(vol, rel, false)
			vol.Close()
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("chattr -i %s: %w", p, err))
		}
	}
	if len(st.Immutable) > 0 || (Target{PID: st.PID, PIDStart: st.PIDStart}).pidGone() {
		return errors.Join(errs...) // the remount was not used, or its namespace died
	}
	return remount(st.PID, st.MountPath, false)
}

// perMountFlags are statfs flags that are per-mount flags with the same bits.
const perMountFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME

// remount runs MS_REMOUNT|MS_BIND on a dedicated OS thread that unshares
// its fs attributes and joins pid's mount namespace. The thread is never
// unlocked, so the Go runtime discards it afterwards.
func remount(pid int, path string, ro bool) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare fs: %w", err)
			}
			fd, err := unix.Open(procfs.NSPath(pid, "mnt"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open mount namespace of pid %d: %w", pid, err)
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("join mount namespace of pid %d: %w", pid, err)
			}
			var sfs unix.Statfs_t
			if err := unix.Statfs(path, &sfs); err != nil {
				return fmt.Errorf("statfs %s in pid %d: %w", path, pid, err)
			}
			flags := uintptr(unix.MS_REMOUNT|unix.MS_BIND) | uintptr(sfs.Flags)&perMountFlags
			if ro {
				flags |= unix.MS_RDONLY
			}
			if err := unix.Mount("", path, "", flags, ""); err != nil {
				return fmt.Errorf("remount %s (ro=%v) in pid %d: %w", path, ro, pid, err)
			}
			return nil
		}()
	}()
	return <-errc
}

// MountReadOnly reports whether path is mounted read-only in pid's mount
// namespace (read from /proc/PID/mountinfo), for doctor.
func MountReadOnly(pid int, path string) (bool, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return false, err
	}
	found, ro := false, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[4] != path {
			continue
		}
		found = true
		ro = false
		for _, o := range strings.Split(f[5], ",") {
			if o == "ro" {
				ro = true
			}
		}
	}
	if !found {
		return false, fmt.Errorf("%s is not a mount point of pid %d", path, pid)
	}
	return ro, nil // the last mount on a path is the visible one
}
