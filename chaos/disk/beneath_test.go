package disk

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/files"
	"github.com/aiuptime/aiuptime/files/filestest"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/stack"
)

// Params that leave the volume are refused when the plan is decoded, with
// an error naming the param.
func TestDecodeRefusesPathsLeavingTheVolume(t *testing.T) {
	for _, kind := range []string{KindWipe, KindCorrupt, KindReadOnly, KindFull} {
		k, err := chaos.LookupKind(kind)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"..", "../etc", "/etc/passwd", "sub/../../x", "a/b/../../../c", "a\x00b"} {
			_, err := k.Decode(map[string]any{"volume": stack.VolumeModels, "path": p})
			var pe *param.Error
			if !errors.As(err, &pe) || pe.Param != "path" {
				t.Errorf("%s path %q: want a params.path error, got %v", kind, p, err)
			}
		}
		for _, p := range []string{"sub", "sub/../other", "./x", "..hidden"} {
			if _, err := k.Decode(map[string]any{"volume": stack.VolumeModels, "path": p}); err != nil {
				t.Errorf("%s path %q: %v", kind, p, err)
			}
		}
	}
}

// nsChild starts a process in its own mount namespace (a container's
// stand-in) and returns its pid.
func nsChild(t *testing.T, script string) int {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	child := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	pid := child.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for procfs.CheckNotHost(procfs.NSPath(pid, "mnt"), "mnt") != nil {
		if time.Now().After(deadline) {
			t.Fatal("child never got its own mount namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return pid
}

// plant puts the link rel in vol, pointing at target.
func plant(t *testing.T, vol, rel, target string) {
	t.Helper()
	p := filepath.Join(vol, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// A link planted in a volume (to a file or a directory outside, as the
// path param or anywhere below it) is refused by every disk kind before
// anything is changed: the outside is byte-for-byte untouched, so is the
// volume, and nothing is journaled.
func TestLinkInVolumeRefusedByEveryKind(t *testing.T) {
	type fault func(Spec, Target, chaos.Deps) chaos.Fault
	wipe := func(s Spec, tg Target, d chaos.Deps) chaos.Fault { return &Wipe{Spec: s, Target: tg, Deps: d} }
	corrupt := func(s Spec, tg Target, d chaos.Deps) chaos.Fault { return &Corrupt{Spec: s, Target: tg, Deps: d} }
	full := func(s Spec, tg Target, d chaos.Deps) chaos.Fault { return &Full{Spec: s, Target: tg, Deps: d} }
	ro := func(s Spec, tg Target, d chaos.Deps) chaos.Fault { return &ReadOnly{Spec: s, Target: tg, Deps: d} }
	for _, c := range []struct {
		name  string
		fault fault
		path  string // the path param
		link  string // where the link is planted
		dir   bool   // the link points at the outside directory (else its file)
		ns    bool   // needs a mount namespace (read-only)
	}{
		{"wipe/path is a dir link", wipe, "weights", "weights", true, false},
		{"wipe/dir link below", wipe, "", "sub/cache", true, false},
		{"wipe/file link below", wipe, "", "sub/evil.json", false, false},
		{"corrupt/path is a file link", corrupt, "evil.safetensors", "evil.safetensors", false, false},
		{"corrupt/dir link component", corrupt, "shards/secret.safetensors", "shards", true, false},
		{"corrupt/file link below", corrupt, "", "model-00002.safetensors", false, false},
		{"full/file link", full, "", "sub/evil", false, false},
		{"readonly/dir link", ro, "", "cache", true, true},
		{"wipe/relative link climbing out", wipe, "", "sub/up", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filestest.NewOutside(t)
			vol := t.TempDir()
			populate(t, vol)
			target := out.Secret
			if c.dir {
				target = out.Dir
			}
			if strings.HasPrefix(c.name, "wipe/relative") {
				// sub/up -> ../../<outside dir>, relative to the link's own dir.
				rel, err := filepath.Rel(filepath.Join(vol, filepath.Dir(c.link)), target)
				if err != nil {
					t.Fatal(err)
				}
				target = rel
			}
			plant(t, vol, c.link, target)
			volBefore := filestest.Fingerprint(t, vol)
			tg := Target{Service: "model-0", HostPath: vol}
			if c.ns {
				tg.PID, tg.MountPath = nsChild(t, "sleep 120"), vol
			}
			d := chaostest.Deps(t)
			rev, err := c.fault(Spec{Volume: stack.VolumeModels, Path: c.path}, tg, d).Inject(context.Background())
			if !errors.Is(err, files.ErrSymlink) || !strings.Contains(err.Error(), strings.SplitN(c.link, "/", 2)[0]) {
				t.Fatalf("want files.ErrSymlink naming %s, got %v", c.link, err)
			}
			t.Logf("refused: %v", err)
			out.Untouched(t)
			filestest.Untouched(t, vol, volBefore)
			chaostest.JournalEmpty(t, d.Journal)
			if ents, _ := os.ReadDir(filepath.Join(d.Journal.StateDir(), "snapshots")); len(ents) != 0 {
				t.Fatalf("snapshot left: %v", ents)
			}
			if err := rev(context.Background()); err != nil {
				t.Fatal(err)
			}
			if c.ns {
				if ro, err := MountReadOnly(tg.PID, vol); err == nil && ro {
					t.Fatal("remounted read-only despite the refusal")
				}
			}
		})
	}
}

// A Hugging Face cache links snapshots to blobs inside the volume: such
// links are kept (never followed) and every kind acts on the volume; the
// wipe's revert brings the links back as links.
func TestLinksInsideTheVolumeAreKept(t *testing.T) {
	vol := t.TempDir()
	files := populate(t, vol)
	plant(t, vol, "snapshots/abc/model.safetensors", "../../model-00001.safetensors")
	d := chaostest.Deps(t)
	w := &Wipe{Spec: Spec{Volume: stack.VolumeModels}, Target: Target{Service: "model-0", HostPath: vol}, Deps: d}
	rev, err := w.Inject(context.Background())
	if err != nil {
		t.Fatalf("wipe of a volume with an inside link: %v", err)
	}
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	same(t, vol, files)
	if got, err := os.Readlink(filepath.Join(vol, "snapshots/abc/model.safetensors")); err != nil || got != "../../model-00001.safetensors" {
		t.Fatalf("link after revert: %q, %v", got, err)
	}
	c := &Corrupt{Spec: Spec{Volume: stack.VolumeModels}, Target: Target{Service: "model-0", HostPath: vol}, Deps: d}
	rev, err = c.Inject(context.Background())
	if err != nil {
		t.Fatalf("corrupt of a volume with an inside link: %v", err)
	}
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	same(t, vol, files)
	chaostest.JournalEmpty(t, d.Journal)
}

// The restore of a wipe never writes through a link planted after the
// snapshot: the revert fails naming it, keeps the snapshot, and succeeds
// once the link is gone.
func TestWipeRestoreRefusesLinkPlantedAfterSnapshot(t *testing.T) {
	out := filestest.NewOutside(t)
	vol := t.TempDir()
	want := populate(t, vol)
	d := chaostest.Deps(t)
	f := &Wipe{Spec: Spec{Volume: stack.VolumeModels}, Target: Target{Service: "model-0", HostPath: vol}, Deps: d}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The container plants sub -> the outside directory.
	plant(t, vol, "sub", out.Dir)
	err = rev(context.Background())
	if !errors.Is(err, files.ErrSymlink) || !strings.Contains(err.Error(), "sub") {
		t.Fatalf("want a revert refused on sub, got %v", err)
	}
	out.Untouched(t)
	if ents, _ := os.ReadDir(filepath.Join(d.Journal.StateDir(), "snapshots")); len(ents) != 1 {
		t.Fatalf("the snapshot must be kept after a refused restore: %v", ents)
	}
	// What the link did not block is back already.
	if _, err := os.Stat(filepath.Join(vol, "config.json")); err != nil {
		t.Fatalf("config.json not restored: %v", err)
	}
	if err := os.Remove(filepath.Join(vol, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	same(t, vol, want)
	chaostest.JournalEmpty(t, d.Journal)
	out.Untouched(t)
}

// The revert of a corrupt never writes the original bytes through a link
// that replaced the file.
func TestCorruptRevertRefusesLinkPlanted(t *testing.T) {
	out := filestest.NewOutside(t)
	vol := t.TempDir()
	populate(t, vol)
	d := chaostest.Deps(t)
	f := &Corrupt{Spec: Spec{Volume: stack.VolumeModels}, Target: Target{Service: "model-0", HostPath: vol}, Deps: d}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.File()); err != nil {
		t.Fatal(err)
	}
	plant(t, vol, filepath.Base(f.File()), out.Secret)
	if err := rev(context.Background()); !errors.Is(err, files.ErrSymlink) {
		t.Fatalf("want the revert refused (files.ErrSymlink), got %v", err)
	}
	out.Untouched(t)
}

// The wipe snapshot keeps links as links and never reads through them.
func TestSnapshotKeepsLinksAsLinks(t *testing.T) {
	out := filestest.NewOutside(t)
	vol := t.TempDir()
	populate(t, vol)
	plant(t, vol, "sub/secret", out.Secret)
	plant(t, vol, "outdir", out.Dir)
	r, err := files.OpenRoot(vol)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	snap := filepath.Join(t.TempDir(), "snap")
	if err := snapshot(context.Background(), r, ".", snap); err != nil {
		t.Fatal(err)
	}
	for rel, target := range map[string]string{"sub/secret": out.Secret, "outdir": out.Dir} {
		if l, err := os.Readlink(filepath.Join(snap, rel)); err != nil || l != target {
			t.Errorf("%s: want a link to %s, got %q %v", rel, target, l, err)
		}
	}
	_ = filepath.WalkDir(snap, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() == filepath.Base(out.Secret) {
			t.Errorf("snapshot read through a link: %s", p)
		}
		return err
	})
	out.Untouched(t)
}

// A journaled state whose path is not beneath the volume it recorded is
// refused by the reverters (a crafted record deletes nothing).
func TestCraftedStateRefused(t *testing.T) {
	out := filestest.NewOutside(t)
	vol := t.TempDir()
	ctx := context.Background()
	for name, err := range map[string]error{
		"wipe":     revertWipe(ctx, wipeState{Root: out.Dir, Snapshot: t.TempDir(), Volume: vol}),
		"corrupt":  revertCorrupt(ctx, corruptState{File: out.Secret, Original: []byte("x"), Volume: vol}),
		"full":     revertFull(ctx, fullState{File: out.Secret, Volume: vol}),
		"readonly": revertReadOnly(ctx, roState{Immutable: []string{out.Secret}, Volume: vol}),
	} {
		if !errors.Is(err, files.ErrOutside) {
			t.Errorf("%s: want files.ErrOutside, got %v", name, err)
		}
	}
	out.Untouched(t)
}
