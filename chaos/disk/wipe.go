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
	root, err := f.Target.pathOf(f.Spec)
	if err != nil {
		return chaos.NoRevert, err
	}
	if f.Deps.Journal == nil {
		return chaos.NoRevert, errors.New("disk-wipe needs a journal (for the pre-fault snapshot)")
	}
	id := chaos.NewID()
	snap := filepath.Join(f.Deps.Journal.StateDir(), "snapshots", id)
	if err := files.CopyTree(ctx, root, snap, snapshotCopy); err != nil {
		_ = os.RemoveAll(snap)
		return chaos.NoRevert, fmt.Errorf("snapshot %s: %w", root, err)
	}
	rec := chaos.Record{ID: id, Kind: "disk-wipe", Target: f.Target.Service, Reverter: "disk/wipe", Mechanism: MechUnlink, Note: RecoveryNote}
	rev, entry, err := chaos.Apply(ctx, f.Deps, rec, wipeState{Root: root, Snapshot: snap}, func(context.Context) error {
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
	if err != nil && entry == nil {
		_ = os.RemoveAll(snap) // never journaled; once journaled, a half-done wipe is restored from it
	}
	return rev, err
}

func revertWipe(ctx context.Context, st wipeState) error {
	if _, err := os.Stat(st.Snapshot); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	restore := snapshotCopy
	restore.OnlyMissing = true
	if err := files.CopyTree(ctx, st.Snapshot, st.Root, restore); err != nil {
		return fmt.Errorf("restore %s from snapshot: %w", st.Root, err)
	}
	return os.RemoveAll(st.Snapshot)
}
