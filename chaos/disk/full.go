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
	"github.com/aiuptime/aiuptime/files"
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
	// Volume is the volume's host path: the revert removes File beneath it
	// (empty in records of older versions).
	Volume string `json:"volume,omitempty"`
}

// ErrSharedFilesystem refuses to fill a filesystem the host needs.
var ErrSharedFilesystem = errors.New("volume shares a filesystem with the host")

// check opens the volume root, refuses links in it and a filesystem shared
// with the host, the state dir or the temporary directory.
func (f *Full) check() (*files.Root, error) {
	vol, _, err := f.Target.beneath(KindFull, "", f.Deps.Log)
	if err != nil {
		return nil, err
	}
	info, err := vol.Stat()
	if err != nil {
		vol.Close()
		return nil, fmt.Errorf("disk-full: %w", err)
	}
	vs := info.Sys().(*unix.Stat_t)
	var hs unix.Stat_t
	for _, ref := range []string{"/", f.Deps.Journal.StateDir(), os.TempDir()} {
		if ref == "" {
			continue
		}
		if err := unix.Stat(ref, &hs); err != nil {
			continue
		}
		if hs.Dev == vs.Dev {
			vol.Close()
			return nil, fmt.Errorf("disk-full on %s: %s is on the same filesystem as %s: %w (give the volume its own size-limited filesystem)", f.Target.Service, vol.Name(), ref, ErrSharedFilesystem)
		}
	}
	return vol, nil
}

// Describe lists what Inject would do.
func (f *Full) Describe(context.Context) ([]string, error) {
	vol, err := f.check()
	if err != nil {
		return nil, err
	}
	defer vol.Close()
	return []string{fmt.Sprintf("fallocate %s%s<id> to leave %d bytes free", filepath.Join(vol.Name(), ""), "/"+FillerPrefix, f.Spec.LeaveBytes)}, nil
}

// Inject journals, then fills the filesystem.
func (f *Full) Inject(ctx context.Context) (chaos.Revert, error) {
	if err := f.Spec.Validate(); err != nil {
		return chaos.NoRevert, err
	}
	vol, err := f.check()
	if err != nil {
		return chaos.NoRevert, err
	}
	defer vol.Close()
	id := chaos.NewID()
	name := FillerPrefix + id
	rec := chaos.Record{ID: id, Kind: "disk-full", Target: f.Target.Service, Reverter: "disk/full", Mechanism: MechFill}
	rev, _, err := chaos.Apply(ctx, f.Deps, rec, fullState{File: filepath.Join(vol.Name(), name), Volume: vol.Name()}, func(ctx context.Context) error {
		return fill(ctx, vol, name, f.Spec.LeaveBytes)
	})
	return rev, err
}

// fill creates the filler name in vol (O_EXCL, no link followed) and
// grows it until leave bytes are free on vol's filesystem.
func fill(ctx context.Context, vol *files.Root, name string, leave int64) error {
	s, err := vol.Statfs()
	if err != nil {
		return fmt.Errorf("statfs %s: %w", vol.Name(), err)
	}
	free := int64(s.Bfree) * s.Bsize
	size := free - leave
	if size <= 0 {
		return nil // already fuller than asked
	}
	fh, err := vol.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create filler: %w", err)
	}
	file := fh.Name()
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
		if s, err = vol.Statfs(); err != nil {
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
	if s, err = vol.Statfs(); err == nil {
		if deficit := leave - int64(s.Bfree)*s.Bsize; deficit > 0 {
			if st, err := fh.Stat(); err == nil {
				_ = fh.Truncate(max(0, st.Size()-deficit-s.Bsize))
			}
		}
	}
	return fh.Sync()
}

// revertFull removes the filler beneath the volume (a link there is
// removed, never followed). A volume that is gone counts as reverted.
func revertFull(_ context.Context, st fullState) error {
	vol, rel, err := openBeneath(st.Volume, st.File, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove filler %s: %w", st.File, err)
	}
	defer vol.Close()
	if err := vol.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
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
