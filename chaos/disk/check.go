package disk

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

// Checks of the disk faults' journaled state, run before a replay acts
// (chaos.Checker). A record may act only beneath the volume root it
// recorded, and that root must itself be provably the run's: a container
// carrying the record's labels mounts it, or it lies under the state
// directory's files of its run (stack.Scope.OwnsPath). What it keeps in
// the state directory is named after the record (its snapshot, its filler
// file). A refusal wraps chaos.ErrUntrusted; a volume or file that is gone
// is chaos.ErrGone (nothing is left to revert).

// beneathVolume checks that path lies beneath the recorded volume root,
// that the root is the run's, and that no symbolic link leads from it to
// path. Records of older versions, without a volume, prove path alone.
func beneathVolume(ctx context.Context, sc chaos.Scope, volume, path string) error {
	if volume != "" {
		if filepath.Clean(path) != path || (path != volume && !strings.HasPrefix(path, volume+"/")) {
			return stack.Untrusted("%s is not beneath the volume %s the record names", path, volume)
		}
		if err := sc.OwnsPath(ctx, volume); err != nil {
			return err
		}
	}
	return sc.OwnsPath(ctx, path)
}

// onDisk reports whether path exists (without following a final link).
func onDisk(path string) (bool, error) {
	_, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Check implements chaos.Checker: the snapshot is the record's own, under
// the state directory; the wiped root lies beneath the run's volume.
func (st wipeState) Check(ctx context.Context, sc chaos.Scope) error {
	if want := filepath.Join(sc.StateDir, "snapshots", sc.RecordID); sc.RecordID == "" || st.Snapshot != want {
		return stack.Untrusted("snapshot %q is not the record's own (%s)", st.Snapshot, want)
	}
	if fi, err := os.Lstat(st.Snapshot); err == nil && !fi.IsDir() {
		return stack.Untrusted("snapshot %s is no directory", st.Snapshot)
	}
	vol := st.Volume
	if vol == "" {
		vol = st.Root
	}
	if ok, err := onDisk(vol); err != nil {
		return err
	} else if !ok {
		return chaos.ErrGone // the volume was removed: nothing to restore into
	}
	return beneathVolume(ctx, sc, st.Volume, st.Root)
}

// Check implements chaos.Checker: the corrupted file lies beneath the
// run's volume, and the bytes to write back fit what disk-corrupt flips.
func (st corruptState) Check(ctx context.Context, sc chaos.Scope) error {
	if st.Offset < 0 || len(st.Original) > MaxCorruptBytes {
		return stack.Untrusted("corrupt state writes %d bytes at offset %d (at most %d bytes at a non-negative offset)", len(st.Original), st.Offset, MaxCorruptBytes)
	}
	if ok, err := onDisk(st.File); err != nil {
		return err
	} else if !ok {
		return chaos.ErrGone
	}
	return beneathVolume(ctx, sc, st.Volume, st.File)
}

// Check implements chaos.Checker: the remounted namespace is one of the
// run's containers (while its process lives), and every path that got the
// immutable attribute lies beneath the run's volume.
func (st roState) Check(ctx context.Context, sc chaos.Scope) error {
	if st.MountPath != "" && (!filepath.IsAbs(st.MountPath) || filepath.Clean(st.MountPath) != st.MountPath) {
		return stack.Untrusted("mount path %q is not a clean absolute path", st.MountPath)
	}
	live := st.PID > 0 && procfs.Alive(st.PID, st.PIDStart)
	if live {
		if err := sc.OwnsProcess(ctx, st.PID, st.PIDStart); err != nil {
			return err
		}
	}
	if len(st.Immutable) == 0 {
		if !live {
			return chaos.ErrGone // the remount died with its namespace
		}
		return nil
	}
	if st.Volume != "" {
		if ok, err := onDisk(st.Volume); err != nil {
			return err
		} else if !ok && !live {
			return chaos.ErrGone
		}
	}
	for _, p := range st.Immutable {
		if err := beneathVolume(ctx, sc, st.Volume, p); err != nil {
			return err
		}
	}
	return nil
}

// Check implements chaos.Checker: the filler is the record's own file,
// beneath the run's volume.
func (st fullState) Check(ctx context.Context, sc chaos.Scope) error {
	if want := FillerPrefix + sc.RecordID; sc.RecordID == "" || filepath.Base(st.File) != want {
		return stack.Untrusted("filler %q is not the record's own (%s)", st.File, want)
	}
	if ok, err := onDisk(st.File); err != nil {
		return err
	} else if !ok {
		return chaos.ErrGone
	}
	return beneathVolume(ctx, sc, st.Volume, st.File)
}
