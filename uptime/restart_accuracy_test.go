package uptime_test

// Accuracy across a server restart with requests queued by the restarted
// server, with real processes: the model server runs vLLM's default policy
// (the engine dies, the server answers 500 and exits after its watchdog)
// and the test restarts it like Docker's restart policy on the same port.
// The new server holds the first requests that arrive while it loads its
// model and serves them once loaded (--load-queue, Ollama's way); later
// ones get 503 at once. Stamped by their send time, the held requests'
// late successes split one outage in two.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/internal/fixtureproc"
	"github.com/aiuptime/aiuptime/internal/proctest"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/uptime"
)

// Restart timing: the server's watchdog (vLLM: ~5 s), the supervisor's
// restart delay (Docker: 100 ms doubling, plus the container's start), and
// how many requests the restarted server holds while it loads.
const (
	restartWatchdog = 300 * time.Millisecond
	restartDelay    = 300 * time.Millisecond
	restartQueue    = 8
)

// supervised is a model server kept running on one port by a restart
// policy "always".
type supervised struct {
	url, runDir string
	log         *os.File
	stop        chan struct{}
	done        chan struct{}
	mu          sync.Mutex
	cmd         *exec.Cmd
	err         error
}

// startSupervised generates a model and serves it under the supervisor
// until the test ends; it returns once /health answers 200.
func startSupervised(t *testing.T, bins string) *supervised {
	t.Helper()
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "model")
	bin := filepath.Join(bins, fixturebin.ModelServer)
	if out, err := exec.Command(bin, "gen-model", "--dir", modelDir, "--name", "tiny", "--size", "4MiB").CombinedOutput(); err != nil {
		t.Fatalf("gen-model: %v\n%s", err, out)
	}
	port := proctest.FreePort(t)
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	s := &supervised{url: fmt.Sprintf("http://127.0.0.1:%d", port), runDir: filepath.Join(dir, "run"),
		log: log, stop: make(chan struct{}), done: make(chan struct{})}
	args := []string{"serve", "--model-dir", modelDir, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--engine-restart", "never", "--watchdog", restartWatchdog.String(), "--load-queue", strconv.Itoa(restartQueue),
		"--load-rate", "8MiB", "--ttft", "2ms", "--itl", "1ms", "--run-dir", s.runDir}
	go s.run(bin, args)
	t.Cleanup(func() {
		s.halt()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("model server output:\n%s", out)
		}
		log.Close()
	})
	proctest.Poll(t, 30*time.Second, "model server healthy", func() error { return healthy(s.url) })
	return s
}

func healthy(url string) error {
	resp, err := http.Get(url + "/health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health %d", resp.StatusCode)
	}
	return nil
}

// run starts the server and starts it again restartDelay after it exits.
func (s *supervised) run(bin string, args []string) {
	defer close(s.done)
	for {
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = s.log, s.log
		s.mu.Lock()
		s.err = cmd.Start()
		s.cmd = cmd
		s.mu.Unlock()
		if s.err != nil {
			return
		}
		_ = cmd.Wait() // exit status 0 after the watchdog, like vLLM
		t := time.NewTimer(restartDelay)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// halt stops restarting and stops the running server.
func (s *supervised) halt() {
	close(s.stop)
	s.mu.Lock()
	if s.err == nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM) // ErrProcessDone once exited
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-time.After(proctest.StopGrace):
		s.mu.Lock()
		_ = s.cmd.Process.Kill()
		s.mu.Unlock()
		<-s.done
	}
}

func (s *supervised) events(t *testing.T) []fixtureproc.Event {
	t.Helper()
	return (&fixtureproc.ModelServer{URL: s.url, RunDir: s.runDir}).Events(t)
}

// TestAccuracyServerRestart SIGKILLs the engine of a server that then
// exits and is restarted, while probing it directly at 20 ms: each kill
// must give ONE outage, within two probe intervals of the fixture's
// died/ready record, although requests queued during the restart succeed
// late (the test checks they did).
func TestAccuracyServerRestart(t *testing.T) {
	bins := fixtureBins(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startSupervised(t, bins)
	began := time.Now()
	f := startFeed(t, ctx, s.url)
	n := max(runs()/2, 2)
	var kills []time.Time
	for i := range n {
		await(t, "steady state", 30*time.Second, func() bool {
			st := f.w.Stats(time.Now())
			return st.Recovered && st.Streak >= 50
		})
		kills = append(kills, killEngine(t, &fixtureproc.ModelServer{RunDir: s.runDir}))
		f.a.AddEvent(uptime.Event{At: kills[i], Kind: uptime.FaultInjected, Step: fmt.Sprintf("kill %d", i), Target: "model-0"})
		await(t, "outage detected", 10*time.Second, func() bool { return f.w.Stats(time.Now()).InOutage })
		await(t, "recovered", 30*time.Second, func() bool { return f.w.Stats(time.Now()).Recovered })
	}
	await(t, "settled", 30*time.Second, func() bool { return f.w.Stats(time.Now()).Streak >= 25 })
	a := f.stop(t)
	tr := truth(s.events(t), began)
	if len(tr) != n {
		t.Fatalf("ground truth has %d died/ready pairs, want %d", len(tr), n)
	}
	for i, p := range tr {
		late, busy := f.restartAnswers(p[0], p[1])
		t.Logf("restart %d: %d requests sent while down succeeded after ready, %d were refused as busy", i, late, busy)
		if late < uptime.DefaultRecoveryThreshold || busy < uptime.DefaultFailoverThreshold {
			t.Fatalf("restart %d: the scenario did not happen: want at least %d late successes and %d busy refusals",
				i, uptime.DefaultRecoveryThreshold, uptime.DefaultFailoverThreshold)
		}
	}
	checkOutages(t, f, a, kills, tr)
}

// restartAnswers counts the requests sent in [died, ready) that succeeded
// after ready (held during the load), and those refused as busy.
func (f *feed) restartAnswers(died, ready time.Time) (late, busy int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.raw {
		if r.Observed().Before(died) || !r.Observed().Before(ready) {
			continue
		}
		switch {
		case r.Outcome == probe.OK && r.End().After(ready):
			late++
		case r.Code == http.StatusServiceUnavailable && strings.Contains(r.Err, "server busy"):
			busy++
		}
	}
	return late, busy
}

// checkOutages wants one outage per kill, within two probe intervals of the
// truth: the start between the SIGKILL and the died record, the end at the
// ready record.
func checkOutages(t *testing.T, f *feed, a *uptime.Analysis, kills []time.Time, tr [][2]time.Time) {
	t.Helper()
	for _, o := range a.Outages {
		t.Logf("outage %s .. %s (%v), %d requests, %d failed", o.Start.Format("15:04:05.000"), o.End.Format("15:04:05.000"), o.Duration, o.Requests, o.Failed)
	}
	if len(a.Outages) != len(tr) {
		t.Fatalf("measured %d outages, want %d (one per kill)", len(a.Outages), len(tr))
	}
	bound := 2 * accInterval
	var startErr, endErr []time.Duration
	for i, o := range a.Outages {
		se, ee := offInterval(o.Start, kills[i], tr[i][0]), o.End.Sub(tr[i][1])
		startErr, endErr = append(startErr, se), append(endErr, ee)
		t.Logf("kill %d: truth died %s ready %s (%v); measured %v: start err %v, end err %v",
			i, tr[i][0].Format("15:04:05.000"), tr[i][1].Format("15:04:05.000"), tr[i][1].Sub(tr[i][0]), o.Duration, se, ee)
		if se.Abs() > bound || ee.Abs() > bound {
			t.Errorf("kill %d: error beyond two probe intervals (%v)", i, bound)
			f.dump(t, "died", tr[i][0])
			f.dump(t, "ready", tr[i][1])
		}
	}
	t.Logf("restart, %d kills at %v: start error %s; end error %s", len(kills), accInterval, durs(startErr), durs(endErr))
}
