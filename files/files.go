// Package files copies files and trees durably (every file fsync'd) and
// empties directories: the file handling that disk faults (snapshots),
// backups (copy and restore) and the embedded stack (model volumes) share.
package files

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// CopyFile copies src to dst (created or truncated, with mode; 0 keeps the
// source's mode, writable by its owner), making dst's directory first, and
// fsyncs it.
func CopyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if mode == 0 {
		st, err := in.Stat()
		if err != nil {
			return err
		}
		mode = st.Mode().Perm() | 0o600
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// WriteSync writes b to p (created or truncated, mode 0600) and fsyncs it.
func WriteSync(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TreeOptions change how CopyTree copies.
type TreeOptions struct {
	// Link hard-links regular files where src and dst share a filesystem
	// (a snapshot), copying otherwise.
	Link bool
	// Symlinks copies symbolic links as links; otherwise they are left out
	// like sockets and devices (not data).
	Symlinks bool
	// OnlyMissing leaves alone what dst already has (a restore of what a
	// fault removed).
	OnlyMissing bool
	// Skip leaves out entries (and whole directories) with these names.
	Skip map[string]bool
	// KeepModes keeps directory and file modes, writable by their owner
	// (else dirs 0755, files 0644).
	KeepModes bool
}

// CopyTree copies the tree under src into dst, checking ctx between files.
func CopyTree(ctx context.Context, src, dst string, o TreeOptions) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if o.Skip[d.Name()] && p != src {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if o.OnlyMissing {
			if _, err := os.Lstat(out); err == nil {
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		dirMode, fileMode := fs.FileMode(0o755), fs.FileMode(0o644)
		if o.KeepModes {
			dirMode, fileMode = info.Mode().Perm()|0o700, info.Mode().Perm()|0o600
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(out, dirMode)
		case info.Mode()&fs.ModeSymlink != 0:
			if !o.Symlinks {
				return nil
			}
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, out)
		case info.Mode().IsRegular():
			if o.Link && os.Link(p, out) == nil {
				return nil
			}
			return CopyFile(p, out, fileMode)
		}
		return nil // sockets, devices: not data
	})
}

// Empty removes every entry of dir except those named in keep.
func Empty(dir string, keep map[string]bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if keep[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
