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

	"github.com/aiuptime/aiuptime/chaos"
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
	root, err := f.Target.pathOf(f.Spec)
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

func revertCorrupt(_ context.Context, st corruptState) error {
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
