package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/kube/local"
)

// TestDoctorAndCleanupKnowLocalClusters: a whole cluster from `drill kube
// up` is reported and left alone; once a component is SIGKILLed it is a
// leftover (doctor exit 4) that `drill cleanup` takes down, after which
// nothing of it is left and doctor is clean.
func TestDoctorAndCleanupKnowLocalClusters(t *testing.T) {
	bins, err := local.BinDir()
	if err == nil {
		err = local.CheckBinaries(bins)
	}
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	state := filepath.Join(t.TempDir(), "state")
	t.Setenv(chaos.StateDirEnv, state)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, code, err := runCLI(t, "kube", "up", "--name", "doctor-test")
	if code != exitcode.Pass {
		t.Fatalf("kube up: exit %d: %v\n%s", code, err, out)
	}
	dir := local.DefaultStateDir("doctor-test")
	t.Cleanup(func() { _ = local.Down(context.WithoutCancel(ctx), dir) })

	out, code, _ = runCLI(t, "doctor", "--no-docker")
	if code != exitcode.Pass || !strings.Contains(out, "local cluster doctor-test") || !strings.Contains(out, "running (drill kube up)") {
		t.Fatalf("doctor on a whole cluster: exit %d\n%s", code, out)
	}
	out, code, _ = runCLI(t, "cleanup", "--no-docker")
	if code != exitcode.Pass || strings.Contains(out, "removed      local cluster") {
		t.Fatalf("cleanup touched a whole cluster: exit %d\n%s", code, out)
	}

	st, err := local.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sched *local.Process
	for _, p := range st.Processes {
		if p.Name == local.Scheduler {
			sched = p
		}
	}
	if err := syscall.Kill(sched.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the scheduler: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for sched.Ours() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // polling the kernel's view of a SIGKILLed pid
	}
	out, code, _ = runCLI(t, "doctor", "--no-docker")
	if code != exitcode.Revert || !strings.Contains(out, "not whole: 4 of 5 recorded components running") {
		t.Fatalf("doctor on a broken cluster: exit %d, want %d\n%s", code, exitcode.Revert, out)
	}
	out, code, _ = runCLI(t, "cleanup", "--no-docker")
	if code != exitcode.Pass || !strings.Contains(out, "removed      local cluster doctor-test") {
		t.Fatalf("cleanup of a broken cluster: exit %d\n%s", code, out)
	}
	for _, p := range st.Processes {
		if p.Ours() {
			t.Errorf("%s (pid %d) still runs after cleanup", p.Name, p.PID)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state dir %s left behind (%v)", dir, err)
	}
	if out, code, _ := runCLI(t, "doctor", "--no-docker"); code != exitcode.Pass || !strings.Contains(out, "doctor: clean") {
		t.Errorf("doctor after cleanup: exit %d\n%s", code, out)
	}
}
