// Package files copies files and trees durably (every file fsync'd) and
// empties directories: the file handling that disk faults (snapshots),
// backups (copy and restore) and the embedded stack (model volumes) share.
//
// Everything that acts beneath a volume goes through a Root: paths are
// resolved beneath it without following any symbolic link (openat2 with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS, or an
// equivalent openat(O_NOFOLLOW) walk on older kernels), and walks descend
// by descriptor, so a link planted in a volume never leads outside it.
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

// CopyTree copies the tree under src into dst (made if missing), checking
// ctx between files. Both are opened as roots and the copy never follows a
// link (CopyTreeAt).
func CopyTree(ctx context.Context, src, dst string, o TreeOptions) error {
	sr, err := OpenRoot(src)
	if err != nil {
		return err
	}
	defer sr.Close()
	info, err := sr.Stat()
	if err != nil {
		return err
	}
	mode := fs.FileMode(0o755)
	if o.KeepModes {
		mode = info.Mode().Perm() | 0o700
	}
	if err := os.MkdirAll(dst, mode); err != nil {
		return err
	}
	dr, err := OpenRoot(dst)
	if err != nil {
		return err
	}
	defer dr.Close()
	return CopyTreeAt(ctx, sr, ".", dr, ".", o)
}

// Empty removes every entry of dir except those named in keep, never
// following a link (Root.Empty).
func Empty(dir string, keep map[string]bool) error {
	r, err := OpenRoot(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Empty(".", keep)
}
