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
	st := roState{PID: f.Target.PID, PIDStart: f.Target.PIDStart, MountPath: f.Target.MountPath}
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
	// Busy: fall back to immutable attributes on the host side of the volume.
	root, rerr := f.Target.root("")
	if rerr != nil {
		return e.Revert(), errors.Join(err, rerr)
	}
	paths, werr := mutablePaths(root)
	if werr != nil {
		return e.Revert(), fmt.Errorf("disk-readonly on %s: list %s: %w", f.Target.Service, root, werr)
	}
	st.Immutable = paths
	f.mech = MechImmutable
	if err := e.UpdateRecord(func(r *chaos.Record) { r.Mechanism = MechImmutable }, st); err != nil {
		return e.Revert(), err
	}
	f.Deps.Logger().Info("bind mount busy (files open for writing); using immutable attributes", "target", f.Target.Service, "files", len(paths))
	// Files first, directories last (deepest first was listed last).
	for i := len(paths) - 1; i >= 0; i-- {
		if err := setImmutable(paths[i], true); err != nil {
			return e.Revert(), fmt.Errorf("disk-readonly on %s: chattr +i %s: %w", f.Target.Service, paths[i], err)
		}
	}
	return e.Revert(), nil
}

// mutablePaths lists regular files and directories under root (root
// included, first) that are not already immutable.
func mutablePaths(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		if imm, err := isImmutable(p); err == nil && !imm {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

func attrFlags(p string) (int, int, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	fl, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, fl, nil
}

func isImmutable(p string) (bool, error) {
	fd, fl, err := attrFlags(p)
	if err != nil {
		return false, err
	}
	unix.Close(fd)
	return fl&fsImmutableFL != 0, nil
}

// setImmutable sets or clears the immutable attribute (chattr +i / -i).
func setImmutable(p string, on bool) error {
	fd, fl, err := attrFlags(p)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	nfl := fl &^ fsImmutableFL
	if on {
		nfl = fl | fsImmutableFL
	}
	if nfl == fl {
		return nil
	}
	return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, nfl)
}

// Immutable lists immutable files and directories under hostPath, for doctor.
func Immutable(hostPath string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(hostPath, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Type().IsRegular() {
			if imm, err := isImmutable(p); err == nil && imm {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

func revertReadOnly(_ context.Context, st roState) error {
	var errs []error
	for _, p := range st.Immutable {
		if err := setImmutable(p, false); err != nil && !errors.Is(err, unix.ENOENT) {
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
