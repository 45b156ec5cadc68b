package fixturebin

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestModuleRootFindsTheCheckout(t *testing.T) {
	t.Setenv(SrcEnv, "")
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "fixtures", "modelserver")); err != nil {
		t.Fatalf("root %s has no fixtures: %v", root, err)
	}
}

func TestEnsureBuildsOnceAndRebuildsWhenStale(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(BinEnv, dir)
	ctx := context.Background()
	if _, err := Ensure(ctx, NvidiaSMI); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, NvidiaSMI)
	fi, err := os.Stat(p)
	if err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("built binary: %v %v", fi, err)
	}
	if _, err := Ensure(ctx, NvidiaSMI); err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(p)
	if !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatal("a fresh binary was rebuilt")
	}
	old := time.Now().Add(-100 * 365 * 24 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(ctx, NvidiaSMI); err != nil {
		t.Fatal(err)
	}
	fi3, _ := os.Stat(p)
	if !fi3.ModTime().After(old) {
		t.Fatal("a stale binary was not rebuilt")
	}
}

func TestEnsureRefusesUnknownNames(t *testing.T) {
	if _, err := Ensure(context.Background(), "no-such-binary"); err == nil {
		t.Fatal("want an error for an unknown binary")
	}
}

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb", 5, "a\nb"},
		{"", 3, ""},
	} {
		if got := Tail(tc.in, tc.n); got != tc.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
