package local

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/procfs"
)

// TestDownIdempotentAndRefusing: a missing state dir is success; a dir
// without cluster.json is refused and kept.
func TestDownIdempotentAndRefusing(t *testing.T) {
	ctx := context.Background()
	if err := Down(ctx, filepath.Join(t.TempDir(), "never")); err != nil {
		t.Fatalf("Down of a missing dir: %v", err)
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "precious"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Down(ctx, foreign); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("Down of a dir without %s = %v; want ErrNotOurs", StateFile, err)
	}
	if _, err := os.Stat(filepath.Join(foreign, "precious")); err != nil {
		t.Fatalf("refused dir was touched: %v", err)
	}
}

// TestDownStopsOnlyOurs: Down stops a recorded process that is still the
// one started (its whole process group), leaves alone a live pid whose
// command line is not the recorded one, and removes the dir.
func TestDownStopsOnlyOurs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	ours, err := start("etcd", sleep, dir, filepath.Join(dir, "etcd.log"), []string{"300"})
	if err != nil {
		t.Fatal(err)
	}
	// A process that is not ours, recorded under a pid with other arguments.
	other := exec.Command(sleep, "301")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	otherStart, err := procfs.StartTime(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	impostor := &Process{Name: "kwok", PID: other.Process.Pid, Start: otherStart, Args: []string{sleep, "300"}}
	c := &Cluster{State: State{Name: "t", Dir: dir, Processes: []*Process{ours, impostor}}}
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	if !ours.Ours() || impostor.Ours() {
		t.Fatalf("Ours: started=%v impostor=%v; want true, false", ours.Ours(), impostor.Ours())
	}
	if err := Down(context.Background(), dir, WithStopGrace(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ours.done:
	case <-time.After(5 * time.Second):
		t.Fatal("recorded process still running after Down")
	}
	if !procfs.Alive(other.Process.Pid, otherStart) {
		t.Fatal("Down killed a process whose command line was not the recorded one")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state dir left: %v", err)
	}
}
