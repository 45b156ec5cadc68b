package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
)

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

func revertFull(_ context.Context, st fullState) error {
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
