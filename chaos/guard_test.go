package chaos_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
)

// marker is a real fault: it creates a file and its revert removes it.
type marker struct {
	j    *chaos.Journal
	path string
	fail bool // inject applies and then fails
}

type markerState struct {
	Path   string
	Secret string `json:",omitempty"`
}

// Check proves the marker file is the run's own: beneath its run directory
// in the state directory.
func (st markerState) Check(ctx context.Context, sc chaos.Scope) error {
	return sc.OwnsPath(ctx, st.Path)
}

// testRun is the run id of the marker records.
const testRun = "t1"

var failReverts atomic.Bool

func init() {
	chaos.RegisterStateReverter("test/marker", func(_ context.Context, st markerState) error {
		if failReverts.Load() {
			return errors.New("boom")
		}
		if err := os.Remove(st.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	})
}

func (m *marker) Name() string { return "marker " + filepath.Base(m.path) }

func (m *marker) Inject(ctx context.Context) (chaos.Revert, error) {
	rev, _, err := chaos.Apply(ctx, chaos.Deps{Journal: m.j, RunID: testRun}, chaos.Record{Kind: "marker", Target: "t", Reverter: "test/marker"}, markerState{Path: m.path}, func(context.Context) error {
		if err := os.WriteFile(m.path, nil, 0o600); err != nil {
			return err
		}
		if m.fail {
			return errors.New("half applied")
		}
		return nil
	})
	return rev, err
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// setup opens a journal in a fresh state dir; the marker file is to be
// made in the test run's directory there.
func setup(t testing.TB) (*chaos.Journal, *chaos.Guard, string) {
	state := t.TempDir()
	j, err := chaos.OpenJournal(chaos.WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	g, err := chaos.NewGuard(chaos.WithRevertTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(state, "runs", testRun)
	if err := os.MkdirAll(run, 0o700); err != nil {
		t.Fatal(err)
	}
	return j, g, filepath.Join(run, "marker")
}

func TestGuardRevertsOnSuccessFailureCancelPanic(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		j, g, p := setup(t)
		inj, err := g.Run(context.Background(), &marker{j: j, path: p}, func(context.Context) error {
			if !exists(p) {
				t.Fatal("not injected during hold")
			}
			return nil
		})
		if err != nil || exists(p) || inj == nil {
			t.Fatalf("err=%v exists=%v", err, exists(p))
		}
		if recs, _ := j.List(); len(recs) != 0 {
			t.Fatal("journal left")
		}
	})
	t.Run("hold fails", func(t *testing.T) {
		j, g, p := setup(t)
		_, err := g.Run(context.Background(), &marker{j: j, path: p}, func(context.Context) error { return errors.New("x") })
		if err == nil || exists(p) {
			t.Fatalf("err=%v exists=%v", err, exists(p))
		}
	})
	t.Run("inject fails half-way", func(t *testing.T) {
		j, g, p := setup(t)
		_, err := g.Run(context.Background(), &marker{j: j, path: p, fail: true}, nil)
		if err == nil || exists(p) {
			t.Fatalf("err=%v exists=%v", err, exists(p))
		}
	})
	t.Run("cancel", func(t *testing.T) {
		j, g, p := setup(t)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for !exists(p) {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := g.Run(ctx, &marker{j: j, path: p}, chaos.HoldFor(time.Minute))
		if !errors.Is(err, context.Canceled) || exists(p) {
			t.Fatalf("err=%v exists=%v", err, exists(p))
		}
	})
	t.Run("panic", func(t *testing.T) {
		j, g, p := setup(t)
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("panic swallowed")
				}
			}()
			_, _ = g.Run(context.Background(), &marker{j: j, path: p}, func(context.Context) error { panic("in hold") })
		}()
		if exists(p) {
			t.Fatal("not reverted after panic")
		}
	})
}

func TestFailedRevertIsLoudAndReplayable(t *testing.T) {
	j, g, p := setup(t)
	failReverts.Store(true)
	_, err := g.Run(context.Background(), &marker{j: j, path: p}, nil)
	failReverts.Store(false)
	var re *chaos.RevertError
	if !errors.As(err, &re) || re.ExitCode() != 4 {
		t.Fatalf("want RevertError with exit 4, got %v", err)
	}
	recs, _ := j.List()
	if len(recs) != 1 || !exists(p) {
		t.Fatalf("a failed revert must keep its record: %v", recs)
	}
	// This process owns the record: a replay leaves it alone unless forced.
	if res, err := chaos.Replay(context.Background(), j.Dir()); err != nil || len(res.Live) != 1 || !exists(p) {
		t.Fatalf("replay of a live owner's record: %+v %v", res, err)
	}
	res, err := chaos.Replay(context.Background(), j.Dir(), chaos.WithRun(testRun), chaos.WithForce())
	if err != nil || len(res.Reverted) != 1 || exists(p) {
		t.Fatalf("replay: %+v %v", res, err)
	}
	if recs, _ := j.List(); len(recs) != 0 {
		t.Fatal("journal left after replay")
	}
}

// A journaled state its reverter cannot decode is quarantined, naming the
// reverter, and leaves the journal.
func TestUndecodableStateIsQuarantined(t *testing.T) {
	j, _, _ := setup(t)
	rec := chaos.Record{ID: chaos.NewID(), Kind: "marker", Target: "t", Reverter: "test/marker", State: []byte(`"not a markerState"`)}
	if err := j.Write(rec); err != nil {
		t.Fatal(err)
	}
	res, err := chaos.Replay(context.Background(), j.Dir())
	if !errors.Is(err, chaos.ErrQuarantined) || len(res.Quarantined) != 1 || !strings.Contains(res.Quarantined[0].Reason, "decode marker state") {
		t.Fatalf("replay: %+v %v", res, err)
	}
	if recs, _ := j.List(); len(recs) != 0 {
		t.Fatalf("records after quarantine: %v", recs)
	}
}

func TestStateDirEnv(t *testing.T) {
	d := t.TempDir()
	t.Setenv(chaos.StateDirEnv, d)
	j, err := chaos.OpenJournal()
	if err != nil || j.Dir() != filepath.Join(d, "journal") {
		t.Fatalf("%v %s", err, j.Dir())
	}
}

// refusing is a fault refused before it applied anything.
type refusing struct{}

func (refusing) Name() string { return "refusing" }

func (refusing) Inject(context.Context) (chaos.Revert, error) {
	return chaos.NoRevert, errors.New("refused: symbolic link")
}

// A fault refused before it applied anything is an error, and nothing
// is logged as reverted.
func TestRefusedInjectLogsNoRevert(t *testing.T) {
	var buf bytes.Buffer
	g, err := chaos.NewGuard(chaos.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))), chaos.WithStateDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Inject(context.Background(), refusing{}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("inject: %v", err)
	}
	if strings.Contains(buf.String(), "reverted") {
		t.Fatalf("a refused fault logged a revert:\n%s", buf.String())
	}
}
