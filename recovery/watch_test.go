package recovery_test

// The component downtime and its phases measured by a watch, checked
// against independent truth with real processes: the fixture model server's
// own event log (engine died, loading, ready) for an engine kill, and the
// test's own signals for an engine hang. The watch never reads that log.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/internal/fixtureproc"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/recovery"
)

const (
	testInterval = 20 * time.Millisecond
	gatewayKey   = "sk-recovery-test"
	// tol is how far a boundary may lie from the truth: two check
	// intervals, plus the scheduling lag a loaded 2-core CI machine adds to
	// a send or an answer (seen up to 50 ms while other suites ran).
	tol = 2*testInterval + 60*time.Millisecond
	// procTol bounds a process reading: a poll interval plus the time one
	// /proc scan takes under that load.
	procTol = 250 * time.Millisecond
)

// tree lists a process and its children from /proc, as a stack's process
// capability lists a container's PID namespace.
func tree(root int) recovery.ProcessFunc {
	return func(context.Context) ([]recovery.Process, error) {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return nil, err
		}
		var out []recovery.Process
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
			if pid != root && (len(f) < 2 || f[1] != strconv.Itoa(root)) {
				continue
			}
			cmd, _ := procfs.Cmdline(pid)
			start, _ := procfs.StartTime(pid)
			out = append(out, recovery.Process{Name: strings.Fields(cmd + " ?")[0], ID: fmt.Sprintf("%d.%d", pid, start),
				Running: f[0] != "T" && f[0] != "Z" && f[0] != "X" && f[0] != "t"})
		}
		return out, nil
	}
}

// window is where a measured time must lie.
type window struct{ from, to time.Time }

func (w window) check(t *testing.T, what string, at time.Time) {
	t.Helper()
	if at.Before(w.from) || at.After(w.to) {
		t.Errorf("%s at %s, want within [%s, %s] (%+v .. %+v)", what, at.Format("15:04:05.000"),
			w.from.Format("15:04:05.000"), w.to.Format("15:04:05.000"), at.Sub(w.from), at.Sub(w.to))
	}
}

// truths says where each boundary and phase of the one outage must lie.
type truths struct {
	start, end window
	phases     map[string]window // measured phases
	absent     map[string]string // phases not measured: want status
}

type injection func(t *testing.T, ms *fixtureproc.ModelServer) (injected time.Time, truth func() truths)

// killEngine SIGKILLs the engine; the server respawns it and reloads the
// model. Truth: the server's own died / loading / ready records.
func killEngine(t *testing.T, ms *fixtureproc.ModelServer) (time.Time, func() truths) {
	pid := ms.EnginePID(t)
	at := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return at, func() truths {
		evs := ms.Events(t)
		died, ok1 := fixtureproc.First(evs, "died", at)
		loading, ok2 := fixtureproc.First(evs, "loading", at)
		ready, ok3 := fixtureproc.First(evs, "ready", at)
		if !ok1 || !ok2 || !ok3 {
			t.Fatalf("event log lacks died/loading/ready after the kill: %+v", evs)
		}
		t.Logf("truth: killed %s, died %+v, loading %+v, ready %+v", at.Format("15:04:05.000"),
			died.At.Sub(at), loading.At.Sub(at), ready.At.Sub(at))
		// The engine died between the SIGKILL and the server's record of it
		// (its supervisor logs it a little late under load); a completion in
		// flight then fails with it. The server turns ready a moment before it
		// records it.
		return truths{
			start: window{at.Add(-tol), died.At.Add(tol)},
			end:   window{ready.At.Add(-tol), ready.At.Add(tol)},
			phases: map[string]window{
				recovery.PhaseDetected:    {at, died.At.Add(tol)},
				recovery.PhaseProcessBack: {loading.At, loading.At.Add(procTol)},
				recovery.PhaseModelLoaded: {ready.At.Add(-tol), ready.At.Add(tol)},
				recovery.PhaseReady:       {ready.At.Add(-tol), ready.At.Add(tol)},
				recovery.PhaseFirstToken:  {ready.At.Add(-tol), ready.At.Add(tol)},
				recovery.PhaseInRotation:  {ready.At, ready.At.Add(5 * time.Second)},
			},
		}
	}
}

// hangEngine SIGSTOPs the engine for longer than the completion deadline,
// then SIGCONTs it. /health stays 200 (as with vLLM): only completions see
// it. Truth: the test's two signals.
func hangEngine(t *testing.T, ms *fixtureproc.ModelServer) (time.Time, func() truths) {
	pid := ms.EnginePID(t)
	at := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the fault's duration, as a plan's duration: 3s
	cont := time.Now()
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	return at, func() truths {
		return truths{
			// A completion in flight when the engine stopped hangs with it.
			start: window{at.Add(-tol), at.Add(tol)},
			end:   window{cont.Add(-tol), cont.Add(tol)},
			phases: map[string]window{
				// Known when the first hung completion hits its deadline (one
				// sent a moment before the stop, still in flight, may be first).
				recovery.PhaseDetected:    {at.Add(time.Second - tol), at.Add(time.Second + tol)},
				recovery.PhaseProcessBack: {cont, cont.Add(procTol)},
				recovery.PhaseFirstToken:  {cont, cont.Add(tol)},
				recovery.PhaseInRotation:  {cont, cont.Add(5 * time.Second)},
			},
			absent: map[string]string{recovery.PhaseReady: recovery.NotApplicable, recovery.PhaseModelLoaded: recovery.NotMeasured},
		}
	}
}

// TestWatchAgainstTruth watches a model server directly (20 ms checks)
// while its engine is killed or hung under gateway traffic, and compares
// the one component outage and its phases with the truth.
func TestWatchAgainstTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("real-process test skipped in -short mode")
	}
	bins := fixturebin.ForTest(t, fixturebin.ModelServer, fixturebin.Gateway)
	for _, tc := range []struct {
		name   string
		inject injection
	}{
		{"engine killed", killEngine},
		{"engine hung", hangEngine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ms := fixtureproc.StartModelServer(t, bins)
			gw := fixtureproc.StartGateway(t, bins, gatewayKey, "{timeout: 1, cooldown_time: 1}", ms)
			users, err := recovery.StartFeed(ctx, gw, recovery.DefaultRule, nil, probe.WithMode(probe.ModeChat),
				probe.WithInterval(testInterval), probe.WithTimeout(2*time.Second), probe.WithAPIKey(gatewayKey),
				probe.WithModel(fixtureproc.ModelName), probe.WithDuration(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			defer users.Stop()
			w, err := recovery.Start(ctx, recovery.Target{
				Name: "model-0", URL: ms.URL, HealthPath: "/health", Model: fixtureproc.ModelName,
				Processes: tree(ms.PID()), Rotation: recovery.GatewayRotation(http.DefaultClient, gw, gatewayKey, "replica-0"),
			}, recovery.WithInterval(testInterval), recovery.WithPoll(testInterval), recovery.WithCompletionTimeout(time.Second),
				recovery.WithSettle(time.Second), recovery.WithRotationGrace(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			time.Sleep(300 * time.Millisecond) // steady before the fault (the watch starts just before it)
			at, truth := tc.inject(t, ms)
			w.Mark(at, false)
			select {
			case <-w.Done():
			case <-ctx.Done():
				t.Fatal("the watch did not end by itself")
			}
			res := w.Stop()
			checkTruth(t, res, truth())
		})
	}
}

func checkTruth(t *testing.T, res *recovery.Result, want truths) {
	t.Helper()
	t.Logf("checks: %+v", res.Checks)
	if len(res.Outages) != 1 {
		t.Fatalf("want one component outage, got %d: %+v", len(res.Outages), res.Outages)
	}
	o := res.Outages[0]
	t.Logf("outage %s .. %s (%v), ongoing %v", o.Start.Format("15:04:05.000"), o.End.Format("15:04:05.000"), o.Duration(), o.Ongoing)
	if o.Ongoing {
		t.Errorf("the outage is still ongoing")
	}
	want.start.check(t, "start", o.Start)
	want.end.check(t, "end", o.End)
	for _, p := range o.Phases {
		t.Logf("phase %-13s %-15s %+v %s", p.Name, p.Status, p.At.Sub(o.Start), p.Note)
		if w, ok := want.phases[p.Name]; ok {
			if p.Status != recovery.Measured {
				t.Errorf("phase %s %s (%s), want measured", p.Name, p.Status, p.Note)
				continue
			}
			w.check(t, "phase "+p.Name, p.At)
		}
		if st, ok := want.absent[p.Name]; ok && p.Status != st {
			t.Errorf("phase %s %s, want %s", p.Name, p.Status, st)
		}
	}
}
