// Package backup takes and restores snapshots of an inference stack: its
// configuration (gateway config, stack file), its models (directories with
// their manifests), the gateway's data taken consistently while it serves
// (SQLite VACUUM INTO), arbitrary command output from a container (pg_dump
// for LiteLLM's PostgreSQL is the model case) and the system state (image IDs
// and /version of each service).
//
// A snapshot is a directory with manifest.json listing every file with its
// size and sha256, when it was created and from what. Restore verifies every
// checksum before it touches anything: a corrupted snapshot is refused with
// an error naming the bad file (ErrCorrupt), a missing one with ErrNotFound.
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/files"
)

// ManifestName is the manifest's file name inside a snapshot.
const ManifestName = "manifest.json"

// FormatVersion is the manifest format written.
const FormatVersion = 1

// Errors callers branch on.
var (
	ErrNotFound = errors.New("backup not found")
	ErrCorrupt  = errors.New("backup corrupt")
)

// Entry is one file of a snapshot.
type Entry struct {
	Path   string `json:"path"` // slash-separated, relative to the snapshot
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Source is the name of the source that wrote it.
	Source string `json:"source"`
}

// SourceInfo describes one source of a snapshot.
type SourceInfo struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// From says where the data came from (a host path, a container and command).
	From string `json:"from"`
	// Meta holds what the source learned (e.g. spend-log rows and newest row time).
	Meta map[string]string `json:"meta,omitempty"`
}

// Manifest is a snapshot's table of contents.
type Manifest struct {
	Format    int          `json:"format"`
	CreatedAt time.Time    `json:"created_at"`
	Source    string       `json:"source"` // the stack: kind and run id
	Sources   []SourceInfo `json:"sources"`
	Entries   []Entry      `json:"entries"`
	Bytes     int64        `json:"bytes"`
	Seconds   float64      `json:"seconds"`
}

// Source writes its part of a snapshot into dir (a directory named after
// the source, created for it) and describes what it took.
type Source interface {
	Name() string
	Collect(ctx context.Context, dir string) (SourceInfo, error)
}

// Snapshot writes a snapshot of sources into dir (created; must not exist
// or be empty) and returns its manifest.
func Snapshot(ctx context.Context, dir, origin string, sources ...Source) (*Manifest, error) {
	start := time.Now()
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("backup into %s: directory not empty", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	m := &Manifest{Format: FormatVersion, CreatedAt: start.UTC(), Source: origin}
	seen := map[string]bool{}
	for _, s := range sources {
		n := s.Name()
		if n == "" || strings.ContainsAny(n, `/\`) || n == "." || n == ".." || seen[n] {
			return nil, fmt.Errorf("backup: bad or duplicate source name %q", n)
		}
		seen[n] = true
		sd := filepath.Join(dir, n)
		if err := os.MkdirAll(sd, 0o700); err != nil {
			return nil, fmt.Errorf("backup %s: %w", n, err)
		}
		info, err := s.Collect(ctx, sd)
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", n, err)
		}
		info.Name = n
		m.Sources = append(m.Sources, info)
		ents, err := hashTree(dir, n)
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", n, err)
		}
		m.Entries = append(m.Entries, ents...)
	}
	for _, e := range m.Entries {
		m.Bytes += e.Size
	}
	m.Seconds = time.Since(start).Seconds()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := files.WriteSync(filepath.Join(dir, ManifestName), b); err != nil {
		return nil, fmt.Errorf("backup: write manifest: %w", err)
	}
	return m, nil
}

func hashTree(root, sub string) ([]Entry, error) {
	var out []Entry
	err := filepath.WalkDir(filepath.Join(root, sub), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		sum, n, err := hashFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, Entry{Path: filepath.ToSlash(rel), Size: n, SHA256: sum, Source: sub})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return hashOpen(f)
}

// hashIn hashes rel beneath root (no link followed).
func hashIn(root *files.Root, rel string) (string, int64, error) {
	f, err := root.Open(rel)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return hashOpen(f)
}

func hashOpen(f *os.File) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", f.Name(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Read reads a snapshot's manifest without verifying the files.
func Read(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (no %s)", dir, ErrNotFound, ManifestName)
	}
	if err != nil {
		return nil, fmt.Errorf("read backup %s: %w", dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w: %s: %v", dir, ErrCorrupt, ManifestName, err)
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("%s: %w: manifest format %d, want %d", dir, ErrCorrupt, m.Format, FormatVersion)
	}
	return &m, nil
}

// Verify reads the manifest and checks every file's size and sha256, and
// that no file is missing or unlisted. The error names the first bad file.
func Verify(dir string) (*Manifest, error) {
	m, err := Read(dir)
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{ManifestName: true}
	for _, e := range m.Entries {
		if strings.Contains(e.Path, "..") || filepath.IsAbs(e.Path) {
			return nil, fmt.Errorf("%s: %w: unsafe path %q in manifest", dir, ErrCorrupt, e.Path)
		}
		listed[e.Path] = true
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		sum, n, err := hashFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %s: %v", dir, ErrCorrupt, e.Path, err)
		}
		if n != e.Size || sum != e.SHA256 {
			return nil, fmt.Errorf("%s: %w: %s: sha256 %s size %d, manifest says %s size %d", dir, ErrCorrupt, e.Path, sum[:12], n, e.SHA256[:12], e.Size)
		}
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !d.Type().IsRegular() { // a link would make a restore read what it points to
			return fmt.Errorf("%s: %w: %s is not a regular file (%s)", dir, ErrCorrupt, rel, d.Type())
		}
		if !listed[filepath.ToSlash(rel)] {
			return fmt.Errorf("%s: %w: %s is not in the manifest", dir, ErrCorrupt, rel)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// SourceInfo returns the named source's info.
func (m *Manifest) SourceInfo(name string) (SourceInfo, bool) {
	for _, s := range m.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return SourceInfo{}, false
}

// SpendStatsRows returns the spend-log row count a SQLite source recorded.
func SpendStatsRows(info SourceInfo) (int64, bool) {
	v, ok := info.Meta["rows"]
	if !ok {
		return 0, false
	}
	var n int64
	_, err := fmt.Sscan(v, &n)
	return n, err == nil
}
