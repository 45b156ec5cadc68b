package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/chaos/disk"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/internal/procfs"
)

// TestCleanupAndDoctorByRun: cleanup reverts a crashed drill's fault,
// quarantines an unreadable record (exit 4) and leaves a live drill's
// fault alone; doctor then shows the live run as live and the quarantined
// file as left behind.
func TestCleanupAndDoctorByRun(t *testing.T) {
	state := t.TempDir()
	j, err := chaos.OpenJournal(chaos.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	// A crashed drill of run "crash" filled the data volume of its gateway,
	// which lies in the run's files under the state directory.
	vol := filepath.Join(state, "runs", chaostest.CrashRun, "data")
	if err := os.MkdirAll(vol, 0o700); err != nil {
		t.Fatal(err)
	}
	id := chaos.NewID()
	filler := filepath.Join(vol, disk.FillerPrefix+id)
	if err := os.WriteFile(filler, make([]byte, 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	chaostest.Plant(t, j, chaos.Record{ID: id, Kind: disk.KindFull, Target: "gateway", Reverter: "disk/full"}, map[string]string{"file": filler, "volume": vol})
	// A live drill of run "rlive" (this process) holds a fault.
	self, err := procfs.Self()
	if err != nil {
		t.Fatal(err)
	}
	live := chaos.Record{ID: chaos.NewID(), RunID: "rlive", Kind: "network-delay", Target: "model-0", Reverter: chaos.RevertNothing,
		Owner: self.PID, OwnerStart: self.Start, OwnerBoot: self.Boot, State: []byte("{}")}
	if err := j.Write(live); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(j.Dir(), "torn.json"), []byte(`{"id": "torn", "kind":`), 0o600); err != nil {
		t.Fatal(err)
	}

	out, code, _ := runCLI(t, "cleanup", "--state-dir", state, "--no-docker")
	if code != exitcode.Revert {
		t.Fatalf("cleanup exit %d, want 4 (a record was quarantined):\n%s", code, out)
	}
	for _, want := range []string{"reverted     disk-full", "QUARANTINED  " + filepath.Join(chaos.QuarantineDir(j.Dir()), "torn.json"), "left alone   network-delay", "run rlive, its drill (pid"} {
		if !strings.Contains(out, want) {
			t.Errorf("cleanup output misses %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filler); !os.IsNotExist(err) {
		t.Errorf("the crashed drill's filler is still there: %v", err)
	}
	if recs, _ := j.List(); len(recs) != 1 || recs[0].ID != live.ID {
		t.Errorf("journal after cleanup: %v, want only the live drill's record", recs)
	}

	out, code, _ = runCLI(t, "doctor", "--state-dir", state, "--no-docker")
	if code != exitcode.Revert {
		t.Fatalf("doctor exit %d, want 4 (the quarantined record is left behind):\n%s", code, out)
	}
	live1 := strings.Index(out, "run rlive: LIVE")
	gone := strings.Index(out, "run (no run): not live")
	if live1 < 0 || gone < 0 || live1 > gone || !strings.Contains(out, "quarantined") {
		t.Errorf("doctor must group by run, live runs first, and list the quarantined file:\n%s", out)
	}
}

func TestCleanupForceNeedsRun(t *testing.T) {
	_, code, err := runCLI(t, "cleanup", "--state-dir", t.TempDir(), "--force", "--no-docker")
	if code != exitcode.Usage || err == nil || !strings.Contains(err.Error(), "--force needs --run") {
		t.Fatalf("exit %d: %v", code, err)
	}
}

func TestCleanupRefusesUnsafeStateDir(t *testing.T) {
	state := t.TempDir()
	if _, err := chaos.OpenJournal(chaos.WithStateDir(state)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	_, code, err := runCLI(t, "cleanup", "--state-dir", state, "--no-docker")
	if code != exitcode.Usage || err == nil || !strings.Contains(err.Error(), state) || !strings.Contains(err.Error(), "writable by its group or others") {
		t.Fatalf("cleanup of a world-writable state dir: exit %d: %v", code, err)
	}
}
