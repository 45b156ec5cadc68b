package backup

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/files"
	"github.com/aiuptime/aiuptime/files/filestest"
)

// Restoring the gateway's data into a volume where links were planted
// writes nothing through them: the database link is replaced by the real
// file, a link among the other files is refused by name, and the files
// outside the volume are byte-for-byte untouched.
func TestReplaceDBNeverWritesThroughLinks(t *testing.T) {
	out := filestest.NewOutside(t)
	dir, vol := t.TempDir(), t.TempDir()
	writeRand(t, filepath.Join(dir, SourceGatewayDB, "gateway.db"), 4096)
	writeRand(t, filepath.Join(dir, SourceGatewayFiles, "settings.json"), 64)
	writeRand(t, filepath.Join(dir, SourceGatewayFiles, "keys", "k1"), 64)
	for _, l := range []struct{ rel, target string }{
		{"gateway.db", out.Secret}, {"gateway.db-wal", out.Secret}, {"settings.json", out.Secret}, {"keys", out.Dir},
	} {
		if err := os.Symlink(l.target, filepath.Join(vol, l.rel)); err != nil {
			t.Fatal(err)
		}
	}
	r := &restore{ctx: t.Context(), dir: dir, m: &Manifest{Sources: []SourceInfo{{Name: SourceGatewayFiles}}}}
	err := r.replaceDB(vol, "gateway.db", filepath.Join(dir, SourceGatewayDB, "gateway.db"))
	if !errors.Is(err, files.ErrSymlink) {
		t.Fatalf("want the planted links refused (files.ErrSymlink), got %v", err)
	}
	t.Logf("refused: %v", err)
	out.Untouched(t)
	want, _ := os.ReadFile(filepath.Join(dir, SourceGatewayDB, "gateway.db"))
	if got, err := os.ReadFile(filepath.Join(vol, "gateway.db")); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("database not restored as a file: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(vol, "gateway.db")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("gateway.db is not a regular file: %v %v", fi, err)
	}
}

// Refilling a model volume removes links planted in it (never what they
// point to) and restores the files in their place.
func TestRefillRemovesLinksNotTargets(t *testing.T) {
	out := filestest.NewOutside(t)
	src, vol := t.TempDir(), t.TempDir()
	writeRand(t, filepath.Join(src, "sub", "model.safetensors"), 4096)
	if err := os.Symlink(out.Dir, filepath.Join(vol, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(out.Secret, filepath.Join(vol, "config.json")); err != nil {
		t.Fatal(err)
	}
	if err := refill(t.Context(), src, vol); err != nil {
		t.Fatal(err)
	}
	out.Untouched(t)
	if fi, err := os.Lstat(filepath.Join(vol, "sub", "model.safetensors")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("not restored: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(vol, "config.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("planted link left: %v", err)
	}
}

// A backup holding a link is refused by Verify even when what the link
// points to has the listed checksum: a restore would read through it.
func TestVerifyRefusesLinkInBackup(t *testing.T) {
	src := t.TempDir()
	writeRand(t, filepath.Join(src, "model.safetensors"), 4096)
	dir := filepath.Join(t.TempDir(), "snap")
	if _, err := Snapshot(t.Context(), dir, "test", Files{ID: "models-x", Path: src}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "models-x", "model.safetensors")
	elsewhere := filepath.Join(t.TempDir(), "same-bytes")
	if err := os.Rename(p, elsewhere); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, p); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(dir); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("want ErrCorrupt for a link, got %v", err)
	}
}
