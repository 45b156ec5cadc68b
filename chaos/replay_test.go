package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/internal/statedir"
)

// deadOwner is the identity of a process that has exited.
func deadOwner(t testing.TB) procfs.Ident { return chaostest.DeadOwner(t) }

// writeMarker journals a marker record for path owned by owner (the
// marker file is made too: the fault is in force).
func writeMarker(t testing.TB, j *chaos.Journal, owner procfs.Ident, run, path string) chaos.Record {
	t.Helper()
	if err := os.WriteFile(path, []byte("in force"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(markerState{Path: path})
	rec := chaos.Record{ID: chaos.NewID(), RunID: run, Kind: "marker", Target: "t", Reverter: "test/marker",
		Owner: owner.PID, OwnerStart: owner.Start, OwnerBoot: owner.Boot, State: st}
	if err := j.Write(rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestReplayRevertsOnlyDeadOwners(t *testing.T) {
	j, _, p := setup(t)
	self, err := procfs.Self()
	if err != nil {
		t.Fatal(err)
	}
	dead := writeMarker(t, j, deadOwner(t), testRun, p)
	livePath := filepath.Join(filepath.Dir(p), "live")
	live := writeMarker(t, j, self, testRun, livePath)

	res, err := chaos.Replay(context.Background(), j.Dir())
	if err != nil || len(res.Reverted) != 1 || res.Reverted[0].ID != dead.ID || len(res.Live) != 1 || res.Live[0].ID != live.ID {
		t.Fatalf("replay: %+v %v", res, err)
	}
	if exists(p) || !exists(livePath) {
		t.Fatalf("dead owner's fault in force: %v; live owner's fault reverted: %v", exists(p), !exists(livePath))
	}
	// --run of another run touches nothing; --run ID --force reverts it.
	if res, err := chaos.Replay(context.Background(), j.Dir(), chaos.WithRun("other"), chaos.WithForce()); err != nil || len(res.Reverted)+len(res.Live) != 0 {
		t.Fatalf("replay of another run: %+v %v", res, err)
	}
	res, err = chaos.Replay(context.Background(), j.Dir(), chaos.WithRun(testRun), chaos.WithForce())
	if err != nil || len(res.Reverted) != 1 || exists(livePath) {
		t.Fatalf("forced replay: %+v %v", res, err)
	}
}

// TestReplayQuarantines: every kind of bad record is moved aside with a
// reason, the good one among them is still reverted, nothing outside the
// run's own files is touched, and the error says so with exit code 4.
func TestReplayQuarantines(t *testing.T) {
	j, _, p := setup(t)
	owner := deadOwner(t)
	good := writeMarker(t, j, owner, testRun, p)

	outside := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(outside, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(filepath.Dir(p), "link")
	if err := os.Symlink(filepath.Dir(outside), link); err != nil {
		t.Fatal(err)
	}
	state := func(path string) json.RawMessage { b, _ := json.Marshal(markerState{Path: path}); return b }
	crafted := []struct {
		name   string
		rec    chaos.Record
		reason string
	}{
		{"path outside the run", chaos.Record{Reverter: "test/marker", State: state(outside)}, "is in no mount"},
		{"path through a symbolic link", chaos.Record{Reverter: "test/marker", State: state(filepath.Join(link, "precious"))}, "is a symbolic link"},
		{"path with ..", chaos.Record{Reverter: "test/marker", State: state(filepath.Dir(p) + "/../../../" + filepath.Base(outside))}, "not a clean absolute path"},
		{"unknown reverter", chaos.Record{Reverter: "test/nobody", State: state(p)}, `no reverter "test/nobody"`},
		{"undecodable state", chaos.Record{Reverter: "test/marker", State: json.RawMessage(`[1,2]`)}, "decode marker state"},
		{"run id that is a path", chaos.Record{RunID: "../..", Reverter: "test/marker", State: state(outside)}, "names no owner"},
	}
	for _, c := range crafted {
		c.rec.ID, c.rec.Kind, c.rec.Target, c.rec.Owner = chaos.NewID(), "marker", c.name, owner.PID
		if c.rec.RunID == "" {
			c.rec.RunID = testRun
		}
		if err := j.Write(c.rec); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"garbage.json": "{not json", "mismatch.json": `{"id":"other","reverter":"none"}`} {
		if err := os.WriteFile(filepath.Join(j.Dir(), name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// The run's containers mount other directories, never the one outside.
	owned := chaostest.Owns{Roots: []string{t.TempDir()}}
	res, err := chaos.Replay(context.Background(), j.Dir(), chaos.WithProver(owned))
	if !errors.Is(err, chaos.ErrQuarantined) || exitcode.Of(err, 0) != exitcode.Revert {
		t.Fatalf("replay error %v: want ErrQuarantined, exit 4", err)
	}
	if len(res.Reverted) != 1 || res.Reverted[0].ID != good.ID || exists(p) {
		t.Fatalf("the good record must still be reverted: %+v", res.Reverted)
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep me" {
		t.Fatalf("file outside the run changed: %q", b)
	}
	if len(res.Quarantined) != len(crafted)+2 {
		t.Fatalf("quarantined %d, want %d: %+v", len(res.Quarantined), len(crafted)+2, res.Quarantined)
	}
	reasons := map[string]string{}
	for _, q := range res.Quarantined {
		b, err := os.ReadFile(q.File + ".reason")
		if err != nil || !strings.HasPrefix(q.File, chaos.QuarantineDir(j.Dir())) || !exists(q.File) {
			t.Fatalf("quarantined %s: reason file %v", q.File, err)
		}
		if q.Record != nil {
			reasons[q.Record.Target] = string(b)
		}
	}
	for _, c := range crafted {
		if !strings.Contains(reasons[c.name], c.reason) {
			t.Errorf("%s: reason %q does not say %q", c.name, reasons[c.name], c.reason)
		}
	}
	if sc, _ := chaos.ScanJournal(j.Dir()); len(sc.Records)+len(sc.Bad) != 0 {
		t.Fatalf("journal not empty after replay: %+v", sc)
	}
}

func TestReplayRefusesUnsafeStateDir(t *testing.T) {
	j, _, _ := setup(t)
	if err := os.Chmod(filepath.Dir(j.Dir()), 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := chaos.Replay(context.Background(), j.Dir())
	if !errors.Is(err, statedir.ErrUnsafe) || exitcode.Of(err, 0) != exitcode.Usage {
		t.Fatalf("replay in a world-writable state dir: %v", err)
	}
	if _, err := chaos.OpenJournal(chaos.WithStateDir(filepath.Dir(j.Dir()))); !errors.Is(err, statedir.ErrUnsafe) {
		t.Fatalf("open journal in a world-writable state dir: %v", err)
	}
}

// BenchmarkReplay measures `drill cleanup` of N records of a dead owner
// (run with -benchtime=1x and N from the sub-benchmark name).
func BenchmarkReplay(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(strconv.Itoa(n)+"records", func(b *testing.B) {
			owner := deadOwner(b)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				j, _, p := setup(b)
				for k := 0; k < n; k++ {
					writeMarker(b, j, owner, testRun, p+strconv.Itoa(k))
				}
				b.StartTimer()
				res, err := chaos.Replay(context.Background(), j.Dir())
				if err != nil || len(res.Reverted) != n {
					b.Fatalf("%+v %v", len(res.Reverted), err)
				}
			}
		})
	}
}
