package files

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/files/filestest"
)

func forceWalk() Option { return func(o *rootOptions) { o.walk = true } }

// resolvers runs fn once per resolver this kernel has (the walk always).
func resolvers(t *testing.T, fn func(t *testing.T, open func(string) *Root)) {
	for _, rs := range []struct {
		name string
		opts []Option
	}{{ResolverOpenat2, nil}, {ResolverWalk, []Option{forceWalk()}}} {
		t.Run(rs.name, func(t *testing.T) {
			if name, why := Resolver(); rs.name == ResolverOpenat2 && name != ResolverOpenat2 {
				t.Skip(why)
			}
			fn(t, func(dir string) *Root {
				r, err := OpenRoot(dir, rs.opts...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close() })
				return r
			})
		})
	}
}

func fingerprint(t *testing.T, p string) string { return filestest.Fingerprint(t, p) }

// world is a root with files, a link to a file outside, a link to a
// directory outside, and the outside things.
type world struct {
	root, outside, secret string
}

func newWorld(t *testing.T) world {
	t.Helper()
	w := world{root: t.TempDir(), outside: t.TempDir()}
	w.secret = filepath.Join(w.outside, "secret")
	must(t, os.WriteFile(w.secret, []byte("do not touch"), 0o600))
	must(t, os.MkdirAll(filepath.Join(w.root, "d", "e"), 0o755))
	must(t, os.WriteFile(filepath.Join(w.root, "f"), []byte("file"), 0o644))
	must(t, os.WriteFile(filepath.Join(w.root, "d", "e", "g"), []byte("deep"), 0o644))
	must(t, os.Symlink(w.secret, filepath.Join(w.root, "d", "link")))
	must(t, os.Symlink(w.outside, filepath.Join(w.root, "ld")))
	return w
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantPathErr checks err is target in an *fs.PathError naming path.
func wantPathErr(t *testing.T, err, target error, path string) {
	t.Helper()
	var pe *fs.PathError
	if !errors.Is(err, target) || !errors.As(err, &pe) || pe.Path != path {
		t.Fatalf("want %v naming %q, got %v", target, path, err)
	}
}

func TestClean(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"", ".", true}, {".", ".", true}, {"a", "a", true}, {"a/./b/", "a/b", true},
		{"a/../b", "b", true}, {"..foo", "..foo", true},
		{"..", "", false}, {"../x", "", false}, {"a/../../x", "", false}, {"/etc/passwd", "", false},
		{"a\x00b", "", false},
	} {
		got, err := Clean(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Clean(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
		if !c.ok && !errors.Is(err, ErrOutside) {
			t.Errorf("Clean(%q): want ErrOutside, got %v", c.in, err)
		}
	}
}

func TestResolveRefusesLinksAndEscapes(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		w := newWorld(t)
		before := fingerprint(t, w.outside)
		r := open(w.root)
		if f, err := r.Open("d/e/g"); err != nil {
			t.Fatalf("plain file: %v", err)
		} else {
			f.Close()
		}
		for _, c := range []struct {
			name   string
			do     func() error
			target error
			path   string
		}{
			{"link as last component", func() error { _, err := r.Open("d/link"); return err }, ErrSymlink, "d/link"},
			{"link to a dir on the way", func() error { _, err := r.Open("ld/secret"); return err }, ErrSymlink, "ld"},
			{"create through a dir link", func() error {
				_, err := r.OpenFile("ld/new", os.O_CREATE|os.O_WRONLY, 0o600)
				return err
			}, ErrSymlink, "ld"},
			{"truncate through a file link", func() error {
				return r.WriteFrom("d/link", strings.NewReader("x"), 0o600)
			}, ErrSymlink, "d/link"},
			{"mkdir through a dir link", func() error { return r.MkdirAll("ld/a/b", 0o755) }, ErrSymlink, "ld"},
			{"lstat beyond a link", func() error { _, err := r.Lstat("ld/secret"); return err }, ErrSymlink, "ld"},
			{"walk a link", func() error { return r.Walk("ld", func(*Entry) error { return nil }) }, ErrSymlink, "ld"},
			{"sub through a link", func() error { _, err := r.Sub("ld"); return err }, ErrSymlink, "ld"},
			{"dot-dot", func() error { _, err := r.Open("../" + filepath.Base(w.outside) + "/secret"); return err }, ErrOutside, "../" + filepath.Base(w.outside) + "/secret"},
			{"absolute", func() error { _, err := r.Open(w.secret); return err }, ErrOutside, w.secret},
			{"remove the root", func() error { return r.RemoveAll(".") }, ErrOutside, "."},
		} {
			t.Run(c.name, func(t *testing.T) { wantPathErr(t, c.do(), c.target, c.path) })
		}
		if info, err := r.Lstat("d/link"); err != nil || info.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("lstat of a link: %v %v", info, err)
		}
		if got := fingerprint(t, w.outside); got != before {
			t.Fatalf("outside changed:\n%s\nwas\n%s", got, before)
		}
	})
}

// Removing a link removes the link, never what it points to.
func TestRemoveNeverFollows(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		w := newWorld(t)
		before := fingerprint(t, w.outside)
		r := open(w.root)
		must(t, r.Remove("ld"))
		must(t, r.RemoveAll("d"))
		must(t, r.Empty(".", map[string]bool{"f": true}))
		ents, _ := os.ReadDir(w.root)
		if len(ents) != 1 || ents[0].Name() != "f" {
			t.Fatalf("left: %v", ents)
		}
		if got := fingerprint(t, w.outside); got != before {
			t.Fatalf("outside changed:\n%s\nwas\n%s", got, before)
		}
	})
}

func TestWalkReportsLinksWithoutFollowing(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		w := newWorld(t)
		r := open(w.root)
		var got []string
		must(t, r.Walk(".", func(e *Entry) error {
			got = append(got, e.Path()+":"+e.Type().String())
			return nil
		}))
		want := ".:d---------|d:d---------|d/e:d---------|d/e/g:----------|d/link:L---------|f:----------|ld:L---------"
		if s := strings.Join(got, "|"); s != want {
			t.Fatalf("walk:\n got %s\nwant %s", s, want)
		}
	})
}

// A directory swapped for a link to the outside between the callback and
// the descent is refused: nothing outside is listed.
func TestWalkRefusesLinkSwappedIn(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		w := newWorld(t)
		r := open(w.root)
		var seen []string
		err := r.Walk(".", func(e *Entry) error {
			seen = append(seen, e.Path())
			if e.Path() == "d" {
				must(t, os.Rename(filepath.Join(w.root, "d"), filepath.Join(w.root, "d.moved")))
				must(t, os.Symlink(w.outside, filepath.Join(w.root, "d")))
			}
			return nil
		})
		wantPathErr(t, err, ErrSymlink, "d")
		for _, p := range seen {
			if strings.Contains(p, "secret") {
				t.Fatalf("walked outside: %v", seen)
			}
		}
	})
}

// A directory swapped for another directory is noticed too.
func TestWalkRefusesDirectorySwappedIn(t *testing.T) {
	w := newWorld(t)
	r, err := OpenRoot(w.root)
	must(t, err)
	defer r.Close()
	err = r.Walk(".", func(e *Entry) error {
		if e.Path() == "d" {
			must(t, os.Rename(filepath.Join(w.root, "d"), filepath.Join(w.root, "d.moved")))
			must(t, os.Mkdir(filepath.Join(w.root, "d"), 0o755))
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "replaced during the walk") {
		t.Fatalf("want a replaced-directory error, got %v", err)
	}
}

// A snapshot keeps links as links; restoring it into a root where a link
// was planted since refuses those entries, restores the rest and writes
// nothing outside.
func TestCopyTreeAtKeepsLinksAndRefusesPlanted(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		w := newWorld(t)
		snapDir := t.TempDir()
		src, snap := open(w.root), open(snapDir)
		o := TreeOptions{Link: true, Symlinks: true, KeepModes: true}
		must(t, CopyTreeAt(t.Context(), src, ".", snap, ".", o))
		if l, err := os.Readlink(filepath.Join(snapDir, "d", "link")); err != nil || l != w.secret {
			t.Fatalf("link not kept as a link: %q %v", l, err)
		}
		// The volume is wiped; an attacker plants d -> outside.
		must(t, src.Empty(".", nil))
		must(t, os.Symlink(w.outside, filepath.Join(w.root, "d")))
		before := fingerprint(t, w.outside)
		o.OnlyMissing = true
		err := CopyTreeAt(t.Context(), snap, ".", src, ".", o)
		if !errors.Is(err, ErrSymlink) {
			t.Fatalf("want ErrSymlink, got %v", err)
		}
		if got := fingerprint(t, w.outside); got != before {
			t.Fatalf("outside changed:\n%s\nwas\n%s", got, before)
		}
		if b, err := os.ReadFile(filepath.Join(w.root, "f")); err != nil || !bytes.Equal(b, []byte("file")) {
			t.Fatalf("the rest was not restored: %q %v", b, err)
		}
	})
}

// With openat2 withheld, the walk resolver is used and says so.
func TestResolverNamed(t *testing.T) {
	name, why := Resolver()
	if name != ResolverOpenat2 && name != ResolverWalk || why == "" {
		t.Fatalf("resolver %q (%s)", name, why)
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	t.Logf("kernel %s: %s (%s)", unix.ByteSliceToString(u.Release[:]), name, why)
}

// The resolver is logged once per process, by the first OpenRoot given an
// enabled logger.
func TestResolverLoggedOnce(t *testing.T) {
	probe.logged.Store(false) // as in a fresh process
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	for range 3 {
		r, err := OpenRoot(t.TempDir(), WithLogger(log))
		must(t, err)
		r.Close()
	}
	name, _ := Resolver()
	if n := strings.Count(buf.String(), "resolver="+name); n != 1 {
		t.Fatalf("want the resolver logged once, got %d times:\n%s", n, buf.String())
	}
}
