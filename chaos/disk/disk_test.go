package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

func populate(t *testing.T, dir string) map[string][]byte {
	files := map[string][]byte{
		"model-00001.safetensors": bytes.Repeat([]byte("weights!"), 4096),
		"config.json":             []byte(`{"a":1}`),
		"sub/tokenizer.json":      []byte(`{"tok":true}`),
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func same(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s not restored: %v", name, err)
		}
	}
}

// chattr sets or clears the immutable attribute of the host path p.
func chattr(p string, on bool) error {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return setImmutable(f, on)
}

func TestWipeAndRevert(t *testing.T) {
	dir := t.TempDir()
	files := populate(t, dir)
	d := chaostest.Deps(t)
	f := &Wipe{Spec: Spec{Volume: stack.VolumeModels}, Target: Target{Service: "model-0", HostPath: dir}, Deps: d}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("not wiped: %v", ents)
	}
	recs, _ := d.Journal.List()
	if len(recs) != 1 || recs[0].Note != RecoveryNote {
		t.Fatalf("journal: %+v", recs)
	}
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	same(t, dir, files)
	chaostest.JournalEmpty(t, d.Journal)
	if ents, _ := os.ReadDir(filepath.Join(d.Journal.StateDir(), "snapshots")); len(ents) != 0 {
		t.Fatalf("snapshot left: %v", ents)
	}
}

// A wipe that fails half-way keeps its snapshot: the revert brings back
// what was already deleted.
func TestWipeFailingHalfWayIsRestored(t *testing.T) {
	dir := t.TempDir()
	files := populate(t, dir)
	stuck := filepath.Join(dir, "zz-stuck", "pinned")
	if err := os.MkdirAll(filepath.Dir(stuck), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stuck, []byte("pinned"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chattr(stuck, true); err != nil {
		t.Skipf("no immutable attribute here: %v", err)
	}
	t.Cleanup(func() { _ = chattr(stuck, false) })
	d := chaostest.Deps(t)
	f := &Wipe{Spec: Spec{Volume: stack.VolumeModels}, Target: Target{Service: "model-0", HostPath: dir}, Deps: d}
	rev, err := f.Inject(context.Background())
	if err == nil {
		t.Fatal("wipe of a volume with an immutable file succeeded")
	}
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	same(t, dir, files)
	chaostest.JournalEmpty(t, d.Journal)
}

func TestCorruptAndRevert(t *testing.T) {
	dir := t.TempDir()
	files := populate(t, dir)
	d := chaostest.Deps(t)
	f := &Corrupt{Spec: Spec{Volume: stack.VolumeModels}, Target: Target{Service: "model-0", HostPath: dir}, Deps: d}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(f.File()) != "model-00001.safetensors" {
		t.Fatalf("picked %s", f.File())
	}
	got, _ := os.ReadFile(f.File())
	if bytes.Equal(got, files["model-00001.safetensors"]) {
		t.Fatal("not corrupted")
	}
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	same(t, dir, files)
	chaostest.JournalEmpty(t, d.Journal)
}

func TestBadParams(t *testing.T) {
	for _, s := range []Spec{{Volume: "logs"}, {Volume: "data", Path: "../etc"}, {Volume: "data", Path: "/etc"}, {Volume: "data", LeaveBytes: -1}} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v: want error", s)
		}
	}
}

// loopExt4 makes a small ext4 image, loop-mounts it and returns the mount point.
func loopExt4(t *testing.T, mb int) string {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	img := filepath.Join(t.TempDir(), "vol.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(mb)<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v %s", err, out)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("loop mount unavailable: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

func TestFullOnLoopExt4(t *testing.T) {
	mnt := loopExt4(t, 32)
	d := chaostest.Deps(t)
	f := &Full{Spec: Spec{Volume: stack.VolumeData, LeaveBytes: 64 << 10}, Target: Target{Service: "gateway", HostPath: mnt}, Deps: d}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var s unix.Statfs_t
	_ = unix.Statfs(mnt, &s)
	free := int64(s.Bfree) * s.Bsize
	t.Logf("free after fill: %d bytes (asked to leave %d)", free, 64<<10)
	err = os.WriteFile(filepath.Join(mnt, "big"), make([]byte, 1<<20), 0o600)
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("write 1 MiB on a full volume: want ENOSPC, got %v", err)
	}
	_ = os.Remove(filepath.Join(mnt, "big"))
	if fs, _ := Fillers(mnt); len(fs) != 1 {
		t.Fatalf("fillers: %v", fs)
	}
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	chaostest.JournalEmpty(t, d.Journal)
	if fs, _ := Fillers(mnt); len(fs) != 0 {
		t.Fatalf("fillers left: %v", fs)
	}
	if err := os.WriteFile(filepath.Join(mnt, "big"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatalf("write after revert: %v", err)
	}
}

func TestFullRefusesHostFilesystem(t *testing.T) {
	d := chaostest.Deps(t)
	f := &Full{Spec: Spec{Volume: stack.VolumeData}, Target: Target{Service: "gateway", HostPath: t.TempDir()}, Deps: d}
	if _, err := f.Inject(context.Background()); !errors.Is(err, ErrSharedFilesystem) {
		t.Fatalf("want ErrSharedFilesystem, got %v", err)
	}
	chaostest.JournalEmpty(t, d.Journal)
}

// TestReadOnlyInMountNamespace remounts a loop ext4 volume read-only inside
// a child's private mount namespace: writes there fail with EROFS, the
// host's view stays writable, the revert makes it writable again.
func TestReadOnlyInMountNamespace(t *testing.T) {
	mnt := loopExt4(t, 16)
	pid := nsChild(t, "sleep 120")
	writeIn := func() error {
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-m", "--", "sh", "-c", "echo x > "+mnt+"/probe").CombinedOutput()
		if err != nil {
			return errors.New(strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := writeIn(); err != nil {
		t.Fatalf("baseline write: %v", err)
	}
	d := chaostest.Deps(t)
	f := &ReadOnly{Spec: Spec{Volume: stack.VolumeData}, Target: Target{Service: "gateway", PID: pid, HostPath: mnt, MountPath: mnt}, Deps: d}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = writeIn()
	if err == nil || !strings.Contains(err.Error(), "Read-only file system") {
		t.Fatalf("write in the namespace: want EROFS, got %v", err)
	}
	if ro, err := MountReadOnly(pid, mnt); err != nil || !ro {
		t.Fatalf("mountinfo ro=%v err=%v", ro, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "host"), []byte("ok"), 0o600); err != nil {
		t.Fatalf("host view must stay writable: %v", err)
	}
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	chaostest.JournalEmpty(t, d.Journal)
	if err := writeIn(); err != nil {
		t.Fatalf("write after revert: %v", err)
	}
}

func TestReadOnlyRefusesHostMountNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	f := &ReadOnly{Spec: Spec{Volume: stack.VolumeData}, Target: Target{Service: "x", PID: os.Getpid(), HostPath: "/tmp", MountPath: "/tmp"}, Deps: chaostest.Deps(t)}
	if _, err := f.Inject(context.Background()); !errors.Is(err, chaos.ErrHostNamespace) {
		t.Fatalf("want ErrHostNamespace, got %v", err)
	}
}

// TestCrashReplayWipe: a child wipes and is SIGKILLed; Replay restores.
func TestCrashReplayWipe(t *testing.T) {
	chaostest.CrashChild(t, func(d chaos.Deps, dir string) chaos.Fault {
		return &Wipe{Spec: Spec{Volume: stack.VolumeModels}, Target: Target{Service: "m", HostPath: dir}, Deps: d}
	})
	dir := t.TempDir()
	files := populate(t, dir)
	state := chaostest.Crash(t, dir)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatal("not wiped")
	}
	if res, err := chaostest.Replay(t, state, chaostest.Owns{Roots: []string{dir}}); err != nil || len(res.Reverted) != 1 {
		t.Fatalf("replay %+v %v", res, err)
	}
	same(t, dir, files)
}

// TestReadOnlyBusyFallsBackToImmutable: with a file open for writing inside
// the namespace the remount is refused (EBUSY); the immutable fallback makes
// writes through the open descriptor fail, and the revert undoes it.
func TestReadOnlyBusyFallsBackToImmutable(t *testing.T) {
	mnt := loopExt4(t, 16)
	db := filepath.Join(mnt, "db.sqlite")
	// A child in its own mount namespace holds db open for writing.
	child := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", "exec 3>>"+db+"; sleep 120")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	pid := child.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for {
		// fd 3 of unshare itself (before it execs sh) is not the file:
		// wait until the shell's fd 3 points at db.
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", pid))
		if link == db && procfs.CheckNotHost(procfs.NSPath(pid, "mnt"), "mnt") == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child never opened the file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Our own descriptor, opened before the fault, like the gateway's database handle.
	fh, err := os.OpenFile(db, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	d := chaostest.Deps(t)
	f := &ReadOnly{Spec: Spec{Volume: stack.VolumeData}, Target: Target{Service: "gateway", PID: pid, HostPath: mnt, MountPath: mnt}, Deps: d}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Mechanism() != MechImmutable {
		t.Fatalf("mechanism %s", f.Mechanism())
	}
	if recs, _ := d.Journal.List(); len(recs) != 1 || recs[0].Mechanism != MechImmutable {
		t.Fatalf("journal: %+v", recs)
	}
	if _, err := fh.Write([]byte("x")); !errors.Is(err, unix.EPERM) {
		t.Fatalf("write through an open descriptor: want EPERM, got %v", err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "new"), nil, 0o600); err == nil {
		t.Fatal("creating a file must fail")
	}
	if err := rev(context.Background()); err != nil {
		t.Fatal(err)
	}
	chaostest.JournalEmpty(t, d.Journal)
	if imm, _ := Immutable(mnt); len(imm) != 0 {
		t.Fatalf("immutable left: %v", imm)
	}
	if _, err := fh.Write([]byte("x")); err != nil {
		t.Fatalf("write after revert: %v", err)
	}
}
