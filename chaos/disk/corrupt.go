package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/files"
)

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
	// Volume is the volume's host path: the revert opens File beneath it
	// without following links (empty in records of older versions).
	Volume string `json:"volume,omitempty"`
	// Dev and Ino identify the corrupted file: a file replaced since is not
	// written (0 in records of older versions).
	Dev uint64 `json:"dev,omitempty"`
	Ino uint64 `json:"ino,omitempty"`
}

// modelExts are the file name extensions of model weights.
var modelExts = map[string]bool{".safetensors": true, ".bin": true, ".gguf": true, ".pt": true, ".pth": true}

// Shard picks the file to corrupt at rel beneath vol: rel itself if a
// file, else the largest regular file under it, preferring model weight
// names. It returns the file's path relative to vol; links are never
// followed (a link at rel is files.ErrSymlink, links under it are skipped).
func Shard(vol *files.Root, rel string) (string, error) {
	info, err := vol.Lstat(rel)
	if err != nil {
		return "", err
	}
	if info.Mode().IsRegular() {
		return rel, nil
	}
	type cand struct {
		path  string
		size  int64
		model bool
	}
	var cs []cand
	err = vol.Walk(rel, func(e *files.Entry) error {
		if !e.Type().IsRegular() {
			return nil
		}
		i, err := e.Info()
		if err != nil || i.Size() == 0 {
			return err
		}
		cs = append(cs, cand{e.Path(), i.Size(), modelExts[strings.ToLower(filepath.Ext(e.Name()))]})
		return nil
	})
	if err != nil {
		return "", err
	}
	if len(cs) == 0 {
		return "", fmt.Errorf("path: no non-empty file under %s", filepath.Join(vol.Name(), rel))
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
	vol, rel, err := f.Target.beneath(KindCorrupt, f.Spec.Path, f.Deps.Log)
	if err != nil {
		return nil, err
	}
	defer vol.Close()
	file, err := Shard(vol, rel)
	if err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("save and invert (xor 0xff) %d bytes in the middle of %s", f.bytes(), filepath.Join(vol.Name(), file))}, nil
}

func (f *Corrupt) bytes() int {
	if f.Spec.Bytes > 0 {
		return f.Spec.Bytes
	}
	return DefaultCorruptBytes
}

// Inject checks the volume (no symbolic link on the way or below), saves
// the bytes, journals them, then writes their inverse.
func (f *Corrupt) Inject(ctx context.Context) (chaos.Revert, error) {
	if err := f.Spec.Validate(); err != nil {
		return chaos.NoRevert, err
	}
	vol, rel, err := f.Target.beneath(KindCorrupt, f.Spec.Path, f.Deps.Log)
	if err != nil {
		return chaos.NoRevert, err
	}
	defer vol.Close()
	file, err := Shard(vol, rel)
	if err != nil {
		return chaos.NoRevert, fmt.Errorf("disk-corrupt on %s: %w", f.Target.Service, err)
	}
	f.file = filepath.Join(vol.Name(), file)
	fh, st, err := openShard(vol, file)
	if err != nil {
		return chaos.NoRevert, fmt.Errorf("disk-corrupt on %s: %w", f.Target.Service, err)
	}
	defer fh.Close()
	n := int64(min(f.bytes(), int(st.Size)))
	off := (st.Size - n) / 2
	orig := make([]byte, n)
	if _, err := fh.ReadAt(orig, off); err != nil {
		return chaos.NoRevert, fmt.Errorf("disk-corrupt: read %s: %w", f.file, err)
	}
	state := corruptState{File: f.file, Offset: off, Original: orig, Volume: vol.Name(), Dev: st.Dev, Ino: st.Ino}
	rec := chaos.Record{Kind: "disk-corrupt", Target: f.Target.Service, Reverter: "disk/corrupt", Mechanism: MechByteFlip}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, state, func(context.Context) error {
		flipped := make([]byte, n)
		for i, b := range orig {
			flipped[i] = ^b
		}
		if _, err := fh.WriteAt(flipped, off); err != nil {
			return fmt.Errorf("disk-corrupt: write %s: %w", f.file, err)
		}
		return fh.Sync()
	})
	return rev, err
}

// openShard opens rel beneath vol for writing; it must be a regular file.
func openShard(vol *files.Root, rel string) (*os.File, unix.Stat_t, error) {
	var st unix.Stat_t
	fh, err := vol.OpenFile(rel, os.O_RDWR|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, st, err
	}
	if err := unix.Fstat(int(fh.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		fh.Close()
		return nil, st, fmt.Errorf("%s: not a regular file (%v)", fh.Name(), err)
	}
	return fh, st, nil
}

// revertCorrupt writes the original bytes back, opening the file beneath
// the volume: a link there now is refused, never written through; a file
// removed or replaced since (another inode) is left alone.
func revertCorrupt(_ context.Context, st corruptState) error {
	vol, rel, err := openBeneath(st.Volume, st.File, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // the volume is gone
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", st.File, err)
	}
	defer vol.Close()
	fh, cur, err := openShard(vol, rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed since: nothing of ours is left
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", st.File, err)
	}
	defer fh.Close()
	if st.Ino != 0 && (cur.Ino != st.Ino || cur.Dev != st.Dev) {
		return nil // replaced since: nothing of ours is left
	}
	if _, err := fh.WriteAt(st.Original, st.Offset); err != nil {
		return fmt.Errorf("restore %s: %w", st.File, err)
	}
	return fh.Sync()
}
