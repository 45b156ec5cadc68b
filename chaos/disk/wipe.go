package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/files"
)

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

// snapshotCopy keeps a volume as it was: hard links where possible,
// symlinks as links, modes kept.
var snapshotCopy = files.TreeOptions{Link: true, Symlinks: true, KeepModes: true}

type wipeState struct {
	// Root is the host path that was wiped (the volume, or Path in it).
	Root     string `json:"root"`
	Snapshot string `json:"snapshot"`
	// Volume is the volume's host path: the restore resolves Root beneath
	// it without following links (empty in records of older versions).
	Volume string `json:"volume,omitempty"`
}

// Describe lists what Inject would do.
func (f *Wipe) Describe(context.Context) ([]string, error) {
	root, err := f.Target.root(f.Spec.Path)
	if err != nil {
		return nil, err
	}
	return []string{"snapshot " + root + " into <state dir>/snapshots/<id> (links kept as links)", "remove every entry under " + root + " (refused if a symbolic link is there)"}, nil
}

// Inject checks the volume (no symbolic link on the way or below), then
// snapshots, journals and removes every entry under the root.
func (f *Wipe) Inject(ctx context.Context) (chaos.Revert, error) {
	if err := f.Spec.Validate(); err != nil {
		return chaos.NoRevert, err
	}
	if f.Deps.Journal == nil {
		return chaos.NoRevert, errors.New("disk-wipe needs a journal (for the pre-fault snapshot)")
	}
	vol, rel, err := f.Target.beneath(KindWipe, f.Spec.Path, f.Deps.Log)
	if err != nil {
		return chaos.NoRevert, err
	}
	defer vol.Close()
	root := filepath.Join(vol.Name(), rel)
	id := chaos.NewID()
	snap := filepath.Join(f.Deps.Journal.StateDir(), "snapshots", id)
	if err := snapshot(ctx, vol, rel, snap); err != nil {
		_ = os.RemoveAll(snap)
		return chaos.NoRevert, fmt.Errorf("snapshot %s: %w", root, err)
	}
	rec := chaos.Record{ID: id, Kind: "disk-wipe", Target: f.Target.Service, Reverter: "disk/wipe", Mechanism: MechUnlink, Note: RecoveryNote}
	rev, entry, err := chaos.Apply(ctx, f.Deps, rec, wipeState{Root: root, Snapshot: snap, Volume: vol.Name()}, func(context.Context) error {
		if err := vol.Empty(rel, nil); err != nil {
			return fmt.Errorf("wipe %s: %w", root, err)
		}
		return nil
	})
	if err != nil && entry == nil {
		_ = os.RemoveAll(snap) // never journaled; once journaled, a half-done wipe is restored from it
	}
	return rev, err
}

// snapshot copies rel beneath vol into the new directory snap.
func snapshot(ctx context.Context, vol *files.Root, rel, snap string) error {
	if err := os.MkdirAll(snap, 0o700); err != nil {
		return err
	}
	dst, err := files.OpenRoot(snap)
	if err != nil {
		return err
	}
	defer dst.Close()
	return files.CopyTreeAt(ctx, vol, rel, dst, ".", snapshotCopy)
}

// revertWipe puts back what is missing from the snapshot, resolving every
// path beneath the volume: a link planted since is refused (the revert
// fails and the snapshot is kept), never written through. A volume that is
// gone counts as reverted.
func revertWipe(ctx context.Context, st wipeState) error {
	snap, err := files.OpenRoot(st.Snapshot)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore %s: open snapshot: %w", st.Root, err)
	}
	defer snap.Close()
	vol, rel, err := openBeneath(st.Volume, st.Root, true)
	if errors.Is(err, fs.ErrNotExist) {
		return os.RemoveAll(st.Snapshot)
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", st.Root, err)
	}
	defer vol.Close()
	restore := snapshotCopy
	restore.OnlyMissing = true
	if err := files.CopyTreeAt(ctx, snap, ".", vol, rel, restore); err != nil {
		return fmt.Errorf("restore %s from snapshot (kept at %s): %w", st.Root, st.Snapshot, err)
	}
	return os.RemoveAll(st.Snapshot)
}
