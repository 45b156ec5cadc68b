package files

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CopyTreeAt copies srcRel beneath src into dstRel beneath dst, checking
// ctx between entries. Both sides are resolved without following links:
// links in the source are copied as links (o.Symlinks) or left out, never
// read through; a link on the way to a destination entry (one planted
// since the source was taken) refuses that entry (and its subtree) with
// ErrSymlink, the copy goes on with the rest and returns every refusal.
// Other errors stop it.
func CopyTreeAt(ctx context.Context, src *Root, srcRel string, dst *Root, dstRel string, o TreeOptions) error {
	base, err := Clean(srcRel)
	if err != nil {
		return &fs.PathError{Op: "copy", Path: srcRel, Err: err}
	}
	dbase, err := Clean(dstRel)
	if err != nil {
		return &fs.PathError{Op: "copy", Path: dstRel, Err: err}
	}
	var refused []error
	err = src.Walk(base, func(e *Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, e.Path())
		if rel != "." && o.Skip[e.Name()] {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		err := copyEntry(e, dst, filepath.Join(dbase, rel), o)
		if errors.Is(err, ErrSymlink) {
			refused = append(refused, err)
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", filepath.Join(src.Name(), base), filepath.Join(dst.Name(), dbase), err)
	}
	if len(refused) > 0 {
		return fmt.Errorf("copy %s to %s: %d entries refused: %w", filepath.Join(src.Name(), base), filepath.Join(dst.Name(), dbase), len(refused), errors.Join(refused...))
	}
	return nil
}

// copyEntry copies one walked entry to out beneath dst.
func copyEntry(e *Entry, dst *Root, out string, o TreeOptions) error {
	if o.OnlyMissing {
		if _, err := dst.Lstat(out); err == nil {
			return nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	info, err := e.Info()
	if err != nil {
		return err
	}
	dirMode, fileMode := fs.FileMode(0o755), fs.FileMode(0o644)
	if o.KeepModes {
		dirMode, fileMode = info.Mode().Perm()|0o700, info.Mode().Perm()|0o600
	}
	switch {
	case e.IsDir():
		return dst.MkdirAll(out, dirMode)
	case e.IsSymlink():
		if !o.Symlinks {
			return nil
		}
		l, err := e.Readlink()
		if err != nil {
			return err
		}
		return dst.Symlink(l, out)
	case e.Type().IsRegular():
		if o.Link && e.LinkInto(dst, out) == nil {
			return nil
		}
		in, err := e.OpenFile(os.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		defer in.Close()
		if st, err := in.Stat(); err != nil || !st.Mode().IsRegular() {
			return &fs.PathError{Op: "copy", Path: e.Path(), Err: errors.New("not a regular file any more")}
		}
		return dst.WriteFrom(out, in, fileMode)
	}
	return nil // sockets, devices: not data
}
