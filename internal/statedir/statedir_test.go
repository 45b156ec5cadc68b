package statedir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/exitcode"
)

func TestEnsureAndCheck(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // Mkdir's mode is masked by the umask
			t.Fatal(err)
		}
		return p
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(mk("target", 0o700), link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, problem string
	}{
		{"new dir is created 0700", filepath.Join(base, "new", "state"), ""},
		{"existing 0700", mk("ok", 0o700), ""},
		{"group-readable is fine", mk("ok755", 0o755), ""},
		{"world-writable", mk("ww", 0o777), "writable by its group or others"},
		{"group-writable", mk("gw", 0o770), "writable by its group or others"},
		{"sticky world-writable like /tmp", mk("tmp", 0o1777), "writable by its group or others"},
		{"symbolic link", link, "is a symbolic link"},
		{"a file", file, "is not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Ensure(tc.dir)
			if tc.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				if st, _ := os.Lstat(tc.dir); tc.name == "new dir is created 0700" && st.Mode().Perm() != 0o700 {
					t.Fatalf("created with mode %v", st.Mode())
				}
				return
			}
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), tc.problem) || !strings.Contains(err.Error(), tc.dir) {
				t.Fatalf("Ensure(%s) = %v; want ErrUnsafe naming the dir and %q", tc.dir, err, tc.problem)
			}
			if exitcode.Of(err, 0) != exitcode.Usage {
				t.Fatalf("exit code %d, want %d", exitcode.Of(err, 0), exitcode.Usage)
			}
		})
	}
}

func TestOwnedByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory away")
	}
	d := t.TempDir()
	if err := os.Chown(d, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	err := Check(d)
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("Check = %v; want a refusal naming the owner", err)
	}
}

func TestSub(t *testing.T) {
	d := t.TempDir()
	sub, err := Sub(d, "locks")
	if err != nil || sub != filepath.Join(d, "locks") {
		t.Fatalf("Sub = %s, %v", sub, err)
	}
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Sub(d, "locks"); !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Sub of a world-writable state dir = %v", err)
	}
}
