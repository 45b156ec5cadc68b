package pvctar

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

// tree reads dir into path -> content ("<dir>" for directories).
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel] = "<dir>"
			return nil
		}
		if d.Type()&os.ModeSymlink != 0 {
			out[rel] = "<link>"
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "models", "tiny", "weights.bin"), strings.Repeat("w", 70000))
	write(t, filepath.Join(src, "models", "tiny", "manifest.json"), `{"name":"tiny"}`)
	write(t, filepath.Join(src, "db.sqlite"), "rows")
	if err := os.Mkdir(filepath.Join(src, "empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "outside")
	write(t, outside, "not ours")
	if err := os.Symlink(outside, filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dst, "stale.txt"), "left from before")

	var buf bytes.Buffer
	created, err := Create(&buf, src)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	if created.SHA256 != hex.EncodeToString(sum[:]) || created.Bytes != int64(buf.Len()) {
		t.Errorf("Create stats %+v do not describe the %d bytes it wrote", created, buf.Len())
	}
	if created.Files != 3 || created.Dirs != 3 || created.Skipped != 1 {
		t.Errorf("Create counted %+v, want 3 files, 3 dirs, 1 skipped link", created)
	}

	extracted, err := Extract(bytes.NewReader(buf.Bytes()), dst, true)
	if err != nil {
		t.Fatal(err)
	}
	if extracted.SHA256 != created.SHA256 || extracted.Bytes != created.Bytes {
		t.Errorf("Extract read %+v, Create wrote %+v", extracted, created)
	}
	want := tree(t, src)
	delete(want, "link")
	if diff := cmp.Diff(want, tree(t, dst)); diff != "" {
		t.Errorf("extracted tree (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(filepath.Join(dst, "models", "tiny", "manifest.json")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode not kept: %v %v", fi.Mode(), err)
	}
}

func TestExtractRefuses(t *testing.T) {
	tests := []struct {
		name string
		hdr  tar.Header
		want string
	}{
		{"climbs out", tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, "unsafe path"},
		{"absolute", tar.Header{Name: "/etc/passwd", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, "unsafe path"},
		{"symlink", tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, "refused"},
		{"device", tar.Header{Name: "d", Typeflag: tar.TypeChar}, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			if err := tw.WriteHeader(&tt.hdr); err != nil {
				t.Fatal(err)
			}
			if tt.hdr.Size > 0 {
				_, _ = tw.Write([]byte("x"))
			}
			_ = tw.Close()
			parent := t.TempDir()
			dst := filepath.Join(parent, "dst")
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := Extract(&buf, dst, false)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Extract: %v, want an error with %q", err, tt.want)
			}
			if _, err := os.Lstat(filepath.Join(parent, "escape")); err == nil {
				t.Error("an entry was written outside the target")
			}
		})
	}
}

// TestExtractDoesNotFollowPlantedLink: a link planted in the volume
// pointing outside is not written through (os.Root refuses the escape).
func TestExtractDoesNotFollowPlantedLink(t *testing.T) {
	dst, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dst, "models")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "models/x", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close()
	if _, err := Extract(&buf, dst, false); err == nil {
		t.Error("Extract wrote through a link")
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
		t.Error("a file appeared outside the target")
	}
}
