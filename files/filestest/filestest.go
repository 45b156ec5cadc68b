// Package filestest holds what tests of path safety share: a fingerprint
// of a file or tree that proves it untouched (content, mode, size, mtime),
// and a world with links out of a root.
package filestest

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Fingerprint describes every path under p (p itself included, links not
// followed): type and mode, size, mtime and sha256 of the content. Two
// equal fingerprints mean nothing was written, removed, added or chmod'ed.
func Fingerprint(t testing.TB, p string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sum := ""
		switch {
		case d.Type().IsRegular():
			data, err := os.ReadFile(q)
			if err != nil {
				return err
			}
			h := sha256.Sum256(data)
			sum = hex.EncodeToString(h[:])
		case d.Type()&fs.ModeSymlink != 0:
			if sum, err = os.Readlink(q); err != nil {
				return err
			}
		}
		b.WriteString(strings.Join([]string{q, info.Mode().String(), strconv.FormatInt(info.Size(), 10),
			info.ModTime().Format(time.RFC3339Nano), sum}, " ") + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Untouched fails t if p's fingerprint is no longer before.
func Untouched(t testing.TB, p, before string) {
	t.Helper()
	if got := Fingerprint(t, p); got != before {
		t.Fatalf("%s changed:\nnow:\n%s\nwas:\n%s", p, got, before)
	}
}

// Outside is a directory outside any root under test, holding one file
// (Secret) that links planted in a root point at.
type Outside struct {
	Dir, Secret string
	before      string
}

// NewOutside makes an Outside in a fresh temporary directory and takes its
// fingerprint.
func NewOutside(t testing.TB) *Outside {
	t.Helper()
	o := &Outside{Dir: t.TempDir()}
	o.Secret = filepath.Join(o.Dir, "secret.safetensors")
	if err := os.WriteFile(o.Secret, []byte(strings.Repeat("host data, not the volume's. ", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	// An mtime in the past, so a rewrite of the same bytes shows too.
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(o.Secret, old, old); err != nil {
		t.Fatal(err)
	}
	o.before = Fingerprint(t, o.Dir)
	return o
}

// Untouched fails t if anything under o.Dir changed.
func (o *Outside) Untouched(t testing.TB) {
	t.Helper()
	Untouched(t, o.Dir, o.before)
}
