// Package disk injects disk faults on a service's volume (a model volume or
// the gateway's data volume): wipe, corrupt, read-only and full.
package disk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/stack"
)

// Mechanisms of disk faults.
const (
	MechUnlink   = "unlink"
	MechByteFlip = "byteflip"
	MechRemount  = "bind-remount-ro"
	MechFill     = "fallocate"
)

// FillerPrefix starts the name of the filler file of disk-full; doctor looks for it.
const FillerPrefix = ".aiuptime-fill-"

// DefaultCorruptBytes is how many bytes disk-corrupt flips.
const DefaultCorruptBytes = 64

// Spec is the params shared by every disk fault.
type Spec struct {
	// Volume is stack.VolumeModels or stack.VolumeData.
	Volume string `json:"volume"`
	// Path is relative to the volume root (optional): a subdirectory for
	// wipe, a file (or directory to pick a shard from) for corrupt.
	Path string `json:"path,omitempty"`
	// LeaveBytes is how much space disk-full leaves free.
	LeaveBytes int64 `json:"leave_bytes,omitempty"`
	// Bytes is how many bytes disk-corrupt flips (default DefaultCorruptBytes).
	Bytes int `json:"bytes,omitempty"`
}

// Validate checks the params; errors name the field.
func (s Spec) Validate() error {
	if s.Volume != stack.VolumeModels && s.Volume != stack.VolumeData {
		return fmt.Errorf("volume: %q must be %s or %s", s.Volume, stack.VolumeModels, stack.VolumeData)
	}
	if filepath.IsAbs(s.Path) || strings.Contains(filepath.Clean("/"+s.Path), "..") || (s.Path != "" && strings.HasPrefix(filepath.Clean(s.Path), "..")) {
		return fmt.Errorf("path: %q must be relative to the volume and stay inside it", s.Path)
	}
	if s.LeaveBytes < 0 {
		return fmt.Errorf("leave_bytes: %d must not be negative", s.LeaveBytes)
	}
	if s.Bytes < 0 {
		return fmt.Errorf("bytes: %d must not be negative", s.Bytes)
	}
	return nil
}

// Target is the volume a disk fault acts on.
type Target struct {
	Service     string `json:"service"`
	ContainerID string `json:"container_id,omitempty"`
	// PID is the container's main process on the host (read-only needs it).
	PID      int    `json:"pid,omitempty"`
	PIDStart uint64 `json:"pid_start,omitempty"`
	// HostPath is the volume's directory on the host.
	HostPath string `json:"host_path"`
	// MountPath is where the container sees it.
	MountPath string `json:"mount_path,omitempty"`
}

// TargetFromService picks the service's volume with the given purpose.
func TargetFromService(svc stack.Service, purpose string) (Target, error) {
	v, ok := svc.Volume(purpose)
	if !ok {
		return Target{}, fmt.Errorf("volume: service %s has no %s volume: %w", svc.Name, purpose, chaos.ErrUnsupported)
	}
	t := Target{Service: svc.Name, ContainerID: svc.ContainerID, PID: svc.PID, HostPath: v.HostPath, MountPath: v.MountPath}
	if t.PID > 0 {
		st, err := chaos.ProcessStartTime(t.PID)
		if err != nil {
			return t, fmt.Errorf("service %s pid %d: %w", svc.Name, t.PID, err)
		}
		t.PIDStart = st
	}
	return t, nil
}

func (t Target) root(rel string) (string, error) {
	if t.HostPath == "" || !filepath.IsAbs(t.HostPath) {
		return "", fmt.Errorf("volume of %s: host path %q is not absolute", t.Service, t.HostPath)
	}
	if filepath.Clean(t.HostPath) == "/" {
		return "", fmt.Errorf("volume of %s: refusing the host root directory", t.Service)
	}
	p := filepath.Join(t.HostPath, filepath.Clean("/"+rel))
	return p, nil
}

func (t Target) pidGone() bool {
	if t.PID <= 0 {
		return true
	}
	st, err := chaos.ProcessStartTime(t.PID)
	return err != nil || st != t.PIDStart
}

// ---------------------------------------------------------------- wipe

// Wipe removes every file of the volume (or of Path in it). It cannot undo
// itself in production: recovery needs a DR restore step. The journal keeps
// a pre-fault snapshot (hard links where possible, else copies) so its
// revert, and `drill cleanup`, put back whatever is still missing.
type Wipe struct {
	Spec   Spec
	Target Target
	Deps   chaos.Deps
}

var _ chaos.Fault = (*Wipe)(nil)

// RecoveryNote is what the journal and reports say about a wipe.
const RecoveryNote = "recovery needs a DR restore step; the journal snapshot restores files that are still missing"

// Name names the fault.
func (f *Wipe) Name() string { return "disk-wipe on " + f.Target.Service + " " + f.Spec.Volume }

// Mechanism is unlink.
func (f *Wipe) Mechanism() string { return MechUnlink }

// RequiresRestore reports that a DR restore step is the real recovery.
func (f *Wipe) RequiresRestore() bool { return true }

type wipeState struct {
	Root     string `json:"root"`
	Snapshot string `json:"snapshot"`
}

// Describe lists what Inject would do.
func (f *Wipe) Describe(context.Context) ([]string, error) {
	root, err := f.Target.root(f.Spec.Path)
	if err != nil {
		return nil, err
	}
	return []string{"snapshot " + root + " into <state dir>/snapshots/<id>", "remove every entry under " + root}, nil
}

// Inject snapshots, journals, then removes every entry under the root.
func (f *Wipe) Inject(ctx context.Context) (chaos.Revert, error) {
	if err := f.Spec.Validate(); err != nil {
		return chaos.NoRevert, err
	}
	root, err := f.Target.root(f.Spec.Path)
	if err != nil {
		return chaos.NoRevert, err
	}
	if f.Deps.Journal == nil {
		return chaos.NoRevert, errors.New("disk-wipe needs a journal (for the pre-fault snapshot)")
	}
	id := chaos.NewID()
	snap := filepath.Join(f.Deps.Journal.StateDir(), "snapshots", id)
	if err := copyTree(root, snap); err != nil {
		_ = os.RemoveAll(snap)
		return chaos.NoRevert, fmt.Errorf("snapshot %s: %w", root, err)
	}
	rec := chaos.Record{ID: id, Kind: "disk-wipe", Target: f.Target.Service, Reverter: "disk/wipe", Mechanism: MechUnlink, Note: RecoveryNote}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, wipeState{Root: root, Snapshot: snap}, func(context.Context) error {
		ents, err := os.ReadDir(root)
		if err != nil {
			return fmt.Errorf("wipe %s: %w", root, err)
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
				return fmt.Errorf("wipe %s: %w", root, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = os.RemoveAll(snap) // never journaled
	}
	return rev, err
}

func init() {
	chaos.RegisterReverter("disk/wipe", revertWipe)
	chaos.RegisterReverter("disk/corrupt", revertCorrupt)
	chaos.RegisterReverter("disk/readonly", revertReadOnly)
	chaos.RegisterReverter("disk/full", revertFull)
}

func revertWipe(_ context.Context, rec chaos.Record) error {
	var st wipeState
	if err := json.Unmarshal(rec.State, &st); err != nil {
		return fmt.Errorf("decode wipe state: %w", err)
	}
	if _, err := os.Stat(st.Snapshot); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := restoreMissing(st.Snapshot, st.Root); err != nil {
		return fmt.Errorf("restore %s from snapshot: %w", st.Root, err)
	}
	return os.RemoveAll(st.Snapshot)
}

// copyTree snapshots src into dst: hard links when on the same filesystem,
// copies otherwise. Modes and symlinks are kept.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(out, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, out)
		case info.Mode().IsRegular():
			if err := os.Link(p, out); err == nil {
				return nil
			}
			return copyFile(p, out, info.Mode().Perm())
		}
		return nil // sockets, devices: not data
	})
}

// restoreMissing copies from snap into root every file root lacks.
func restoreMissing(snap, root string) error {
	return filepath.WalkDir(snap, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(snap, p)
		out := filepath.Join(root, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if _, err := os.Lstat(out); err == nil {
			return nil
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(out, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, out)
		default:
			if err := os.Link(p, out); err == nil {
				return nil
			}
			return copyFile(p, out, info.Mode().Perm())
		}
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ---------------------------------------------------------------- corrupt

// Corrupt flips bytes in the middle of one shard (Path, or the largest
// model-looking file); the journal keeps the original bytes and the revert
// writes them back.
type Corrupt struct {
	Spec   Spec
	Target Target
	Deps   chaos.Deps

	file string
}

var _ chaos.Fault = (*Corrupt)(nil)

// Name names the fault.
func (f *Corrupt) Name() string { return "disk-corrupt on " + f.Target.Service + " " + f.Spec.Volume }

// Mechanism is byteflip.
func (f *Corrupt) Mechanism() string { return MechByteFlip }

// File is the corrupted file (after Inject).
func (f *Corrupt) File() string { return f.file }

type corruptState struct {
	File     string `json:"file"`
	Offset   int64  `json:"offset"`
	Original []byte `json:"original"`
}

// Shard picks the file to corrupt under root: root itself if a file, else
// the largest regular file, preferring model weight names.
func Shard(root string) (string, error) {
	info, err := os.Stat(root)
	if err != nil {
		return "", err
	}
	if info.Mode().IsRegular() {
		return root, nil
	}
	type cand struct {
		path  string
		size  int64
		model bool
	}
	var cs []cand
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		i, err := d.Info()
		if err != nil || i.Size() == 0 {
			return err
		}
		ext := strings.ToLower(filepath.Ext(p))
		cs = append(cs, cand{p, i.Size(), ext == ".safetensors" || ext == ".bin" || ext == ".gguf" || ext == ".pt" || ext == ".pth"})
		return nil
	})
	if err != nil {
		return "", err
	}
	if len(cs) == 0 {
		return "", fmt.Errorf("path: no non-empty file under %s", root)
	}
	sort.Slice(cs, func(a, b int) bool {
		if cs[a].model != cs[b].model {
			return cs[a].model
		}
		if cs[a].size != cs[b].size {
			return cs[a].size > cs[b].size
		}
		return cs[a].path < cs[b].path
	})
	return cs[0].path, nil
}

// Describe lists what Inject would do.
func (f *Corrupt) Describe(context.Context) ([]string, error) {
	root, err := f.Target.root(f.Spec.Path)
	if err != nil {
		return nil, err
	}
	file, err := Shard(root)
	if err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("save and invert (xor 0xff) %d bytes in the middle of %s", f.bytes(), file)}, nil
}

func (f *Corrupt) bytes() int {
	if f.Spec.Bytes > 0 {
		return f.Spec.Bytes
	}
	return DefaultCorruptBytes
}

// Inject saves the bytes, journals them, then writes their inverse.
func (f *Corrupt) Inject(ctx context.Context) (chaos.Revert, error) {
	if err := f.Spec.Validate(); err != nil {
		return chaos.NoRevert, err
	}
	root, err := f.Target.root(f.Spec.Path)
	if err != nil {
		return chaos.NoRevert, err
	}
	file, err := Shard(root)
	if err != nil {
		return chaos.NoRevert, fmt.Errorf("disk-corrupt on %s: %w", f.Target.Service, err)
	}
	f.file = file
	fh, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return chaos.NoRevert, fmt.Errorf("disk-corrupt: %w", err)
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return chaos.NoRevert, err
	}
	n := int64(min(f.bytes(), int(info.Size())))
	off := (info.Size() - n) / 2
	orig := make([]byte, n)
	if _, err := fh.ReadAt(orig, off); err != nil {
		return chaos.NoRevert, fmt.Errorf("disk-corrupt: read %s: %w", file, err)
	}
	st := corruptState{File: file, Offset: off, Original: orig}
	rec := chaos.Record{Kind: "disk-corrupt", Target: f.Target.Service, Reverter: "disk/corrupt", Mechanism: MechByteFlip}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, st, func(context.Context) error {
		flipped := make([]byte, n)
		for i, b := range orig {
			flipped[i] = ^b
		}
		if _, err := fh.WriteAt(flipped, off); err != nil {
			return fmt.Errorf("disk-corrupt: write %s: %w", file, err)
		}
		return fh.Sync()
	})
	return rev, err
}

func revertCorrupt(_ context.Context, rec chaos.Record) error {
	var st corruptState
	if err := json.Unmarshal(rec.State, &st); err != nil {
		return fmt.Errorf("decode corrupt state: %w", err)
	}
	fh, err := os.OpenFile(st.File, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // replaced or removed since: nothing of ours is left
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", st.File, err)
	}
	defer fh.Close()
	if _, err := fh.WriteAt(st.Original, st.Offset); err != nil {
		return fmt.Errorf("restore %s: %w", st.File, err)
	}
	return fh.Sync()
}

// ---------------------------------------------------------------- read-only

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
	if err := chaos.CheckNotHostNS(chaos.NSPath(f.Target.PID, "mnt"), "mnt"); err != nil {
		return chaos.NoRevert, fmt.Errorf("disk-readonly on %s: %w", f.Target.Service, err)
	}
	st := roState{PID: f.Target.PID, PIDStart: f.Target.PIDStart, MountPath: f.Target.MountPath}
	if st.PIDStart == 0 {
		s, err := chaos.ProcessStartTime(st.PID)
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

func revertReadOnly(_ context.Context, rec chaos.Record) error {
	var st roState
	if err := json.Unmarshal(rec.State, &st); err != nil {
		return fmt.Errorf("decode readonly state: %w", err)
	}
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
			fd, err := unix.Open(chaos.NSPath(pid, "mnt"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
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

// ---------------------------------------------------------------- full

// Full fills the volume's filesystem until only LeaveBytes are free, with
// one filler file; the revert deletes it. It refuses a volume that is on the
// host's root filesystem or on the state dir's filesystem: it only fills a
// size-limited volume of its own.
type Full struct {
	Spec   Spec
	Target Target
	Deps   chaos.Deps
}

var _ chaos.Fault = (*Full)(nil)

// Name names the fault.
func (f *Full) Name() string { return "disk-full on " + f.Target.Service + " " + f.Spec.Volume }

// Mechanism is fallocate.
func (f *Full) Mechanism() string { return MechFill }

type fullState struct {
	File string `json:"file"`
}

// ErrSharedFilesystem refuses to fill a filesystem the host needs.
var ErrSharedFilesystem = errors.New("volume shares a filesystem with the host")

func (f *Full) check() (string, error) {
	root, err := f.Target.root("")
	if err != nil {
		return "", err
	}
	var vs, hs unix.Stat_t
	if err := unix.Stat(root, &vs); err != nil {
		return "", fmt.Errorf("disk-full: %w", err)
	}
	for _, ref := range []string{"/", f.Deps.Journal.StateDir(), os.TempDir()} {
		if ref == "" {
			continue
		}
		if err := unix.Stat(ref, &hs); err != nil {
			continue
		}
		if hs.Dev == vs.Dev {
			return "", fmt.Errorf("disk-full on %s: %s is on the same filesystem as %s: %w (give the volume its own size-limited filesystem)", f.Target.Service, root, ref, ErrSharedFilesystem)
		}
	}
	return root, nil
}

// Describe lists what Inject would do.
func (f *Full) Describe(context.Context) ([]string, error) {
	root, err := f.check()
	if err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("fallocate %s%s<id> to leave %d bytes free", filepath.Join(root, ""), "/"+FillerPrefix, f.Spec.LeaveBytes)}, nil
}

// Inject journals, then fills the filesystem.
func (f *Full) Inject(ctx context.Context) (chaos.Revert, error) {
	if err := f.Spec.Validate(); err != nil {
		return chaos.NoRevert, err
	}
	root, err := f.check()
	if err != nil {
		return chaos.NoRevert, err
	}
	id := chaos.NewID()
	file := filepath.Join(root, FillerPrefix+id)
	rec := chaos.Record{ID: id, Kind: "disk-full", Target: f.Target.Service, Reverter: "disk/full", Mechanism: MechFill}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, fullState{File: file}, func(ctx context.Context) error {
		return fill(ctx, file, root, f.Spec.LeaveBytes)
	})
	return rev, err
}

func fill(ctx context.Context, file, root string, leave int64) error {
	var s unix.Statfs_t
	if err := unix.Statfs(root, &s); err != nil {
		return fmt.Errorf("statfs %s: %w", root, err)
	}
	free := int64(s.Bfree) * s.Bsize
	size := free - leave
	if size <= 0 {
		return nil // already fuller than asked
	}
	fh, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create filler: %w", err)
	}
	defer fh.Close()
	err = unix.Fallocate(int(fh.Fd()), 0, 0, size)
	if err != nil && !errors.Is(err, unix.ENOSPC) {
		// No fallocate here: write zeros.
		buf := make([]byte, 1<<20)
		var done int64
		for done < size {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			n := min(int64(len(buf)), size-done)
			w, werr := fh.Write(buf[:n])
			done += int64(w)
			if werr != nil {
				if errors.Is(werr, unix.ENOSPC) {
					break
				}
				return fmt.Errorf("fill %s: %w", file, werr)
			}
		}
	}
	// Reserved and metadata blocks skew the first estimate: top up.
	for i := 0; i < 4; i++ {
		if err := unix.Statfs(root, &s); err != nil {
			break
		}
		extra := int64(s.Bfree)*s.Bsize - leave
		if extra < s.Bsize {
			break
		}
		st, err := fh.Stat()
		if err != nil {
			break
		}
		if unix.Fallocate(int(fh.Fd()), 0, st.Size(), extra) != nil {
			// Fall back to small writes for the last blocks.
			buf := make([]byte, s.Bsize)
			for n := int64(0); n < extra; n += s.Bsize {
				if _, err := fh.WriteAt(buf, st.Size()+n); err != nil {
					break
				}
			}
		}
	}
	// Metadata may have taken a little: shrink until leave bytes are free.
	if err := unix.Statfs(root, &s); err == nil {
		if deficit := leave - int64(s.Bfree)*s.Bsize; deficit > 0 {
			if st, err := fh.Stat(); err == nil {
				_ = fh.Truncate(max(0, st.Size()-deficit-s.Bsize))
			}
		}
	}
	return fh.Sync()
}

func revertFull(_ context.Context, rec chaos.Record) error {
	var st fullState
	if err := json.Unmarshal(rec.State, &st); err != nil {
		return fmt.Errorf("decode full state: %w", err)
	}
	if err := os.Remove(st.File); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove filler %s: %w", st.File, err)
	}
	return nil
}

// Fillers lists filler files left in a volume directory, for doctor.
func Fillers(hostPath string) ([]string, error) {
	ents, err := os.ReadDir(hostPath)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), FillerPrefix) {
			out = append(out, filepath.Join(hostPath, e.Name()))
		}
	}
	return out, nil
}

// fsImmutableFL is FS_IMMUTABLE_FL from linux/fs.h (chattr +i).
const fsImmutableFL = 0x00000010
