// Package pvctar writes a directory as a tar stream and extracts one into
// a directory, with the stream's sha256. It is the whole of the helper
// program (cmd/aiuptime-pvctar) that backup/kube runs in a short-lived pod
// mounting a PersistentVolumeClaim: images here are FROM scratch, so
// there is no tar to exec, and the helper is a static Go binary instead.
//
// Only directories and regular files are archived; symbolic links, devices,
// sockets and pipes are skipped and counted. Extraction resolves every
// path beneath the target with os.Root, so an archive entry can neither
// climb out (..) nor write through a link planted in the volume.
package pvctar

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Stats describes one archive: written by Create, read by Extract.
type Stats struct {
	// SHA256 is the hex sha256 of the whole tar stream.
	SHA256 string `json:"sha256"`
	// Bytes is the length of the tar stream.
	Bytes int64 `json:"bytes"`
	// Files and Dirs count the entries; Skipped counts what Create left
	// out (links, devices, sockets, pipes).
	Files   int `json:"files"`
	Dirs    int `json:"dirs"`
	Skipped int `json:"skipped,omitempty"`
}

// digest counts and hashes the bytes written to it.
type digest struct {
	h hash.Hash
	n int64
}

func newDigest() *digest { return &digest{h: sha256.New()} }

func (d *digest) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.n += int64(len(p))
	return len(p), nil
}

func (d *digest) hex() string { return hex.EncodeToString(d.h.Sum(nil)) }

// Create writes dir's tree to w as a tar stream (paths relative to dir,
// slash-separated, in lexical order) and returns its stats.
func Create(w io.Writer, dir string) (Stats, error) {
	var st Stats
	root, err := os.OpenRoot(dir)
	if err != nil {
		return st, fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	dg := newDigest()
	tw := tar.NewWriter(io.MultiWriter(w, dg))
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			st.Dirs++
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: int64(info.Mode().Perm()), ModTime: info.ModTime()})
		case d.Type().IsRegular():
			st.Files++
			return addFile(tw, root, p, info)
		default:
			st.Skipped++
			return nil
		}
	})
	if err != nil {
		return st, fmt.Errorf("archive %s: %w", dir, err)
	}
	if err := tw.Close(); err != nil {
		return st, fmt.Errorf("archive %s: %w", dir, err)
	}
	st.SHA256, st.Bytes = dg.hex(), dg.n
	return st, nil
}

func addFile(tw *tar.Writer, root *os.Root, p string, info fs.FileInfo) error {
	f, err := root.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: int64(info.Mode().Perm()), Size: info.Size(), ModTime: info.ModTime()}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, f, info.Size()); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// Extract reads a tar stream from r into dir (which must exist). With
// clean, dir's current entries are removed first (a link is removed as a
// link), so that dir ends up holding exactly the archive. Entries other
// than directories and regular files are refused. The whole stream is
// read, padding included, so that Stats.SHA256 matches Create's.
func Extract(r io.Reader, dir string, clean bool) (Stats, error) {
	var st Stats
	root, err := os.OpenRoot(dir)
	if err != nil {
		return st, fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	if clean {
		if err := emptyDir(dir); err != nil {
			return st, err
		}
	}
	dg := newDigest()
	r = io.TeeReader(r, dg)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("read archive: %w", err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return st, err
		}
		if err := extractEntry(root, tr, hdr, name, &st); err != nil {
			return st, err
		}
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return st, fmt.Errorf("read archive: %w", err)
	}
	st.SHA256, st.Bytes = dg.hex(), dg.n
	return st, nil
}

func extractEntry(root *os.Root, tr *tar.Reader, hdr *tar.Header, name string, st *Stats) error {
	mode := fs.FileMode(hdr.Mode).Perm()
	switch hdr.Typeflag {
	case tar.TypeDir:
		st.Dirs++
		if err := root.MkdirAll(name, mode|0o700); err != nil {
			return fmt.Errorf("extract %s: %w", name, err)
		}
		return nil
	case tar.TypeReg:
		st.Files++
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("extract %s: %w", name, err)
			}
		}
		f, err := root.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
		if err != nil {
			return fmt.Errorf("extract %s: %w", name, err)
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", name, err)
		}
		return root.Chmod(name, mode)
	}
	return fmt.Errorf("extract %s: entry type %q refused (only directories and regular files)", name, hdr.Typeflag)
}

// cleanName is an entry's name made relative and clean; a name that is
// absolute or climbs out is refused.
func cleanName(n string) (string, error) {
	c := path.Clean(strings.TrimSuffix(n, "/"))
	if c == "." || path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("archive entry %q: unsafe path", n)
	}
	return c, nil
}

// emptyDir removes dir's entries, keeping dir (and a filesystem's
// lost+found).
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("empty %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.Name() == "lost+found" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("empty %s: %w", dir, err)
		}
	}
	return nil
}
