package k6run

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/redact"
	"github.com/aiuptime/aiuptime/redact/redacttest"
)

// k6Binary returns the k6 binary with the extension, built once per run
// when missing or stale (minutes on a cold cache).
func k6Binary(t testing.TB) string {
	t.Helper()
	return filepath.Join(fixturebin.ForTest(t, fixturebin.K6), fixturebin.K6)
}

func TestRunThresholds(t *testing.T) {
	t.Parallel()
	k6 := k6Binary(t)
	keep := filepath.Join(t.TempDir(), "summary.json")
	s, err := Run(t.Context(), k6, "testdata/thresholds.js",
		WithEnv(map[string]string{"ITERATIONS": "20"}), WithSummaryPath(keep))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s.ExitCode != ExitThresholdsFailed {
		t.Errorf("exit code = %d, want %d", s.ExitCode, ExitThresholdsFailed)
	}
	if s.ThresholdsOK() {
		t.Error("ThresholdsOK = true, want false")
	}
	want := []ThresholdResult{
		{Metric: "fake_latency", Source: "p(95)<1000", OK: true},
		{Metric: "fake_up", Source: "rate>0.99", OK: false},
	}
	if diff := cmp.Diff(want, s.Thresholds()); diff != "" {
		t.Errorf("thresholds (-want +got):\n%s", diff)
	}
	if got := s.Iterations(); got != 20 {
		t.Errorf("iterations = %v, want 20", got)
	}
	if got, _ := s.Value("fake_up", "rate"); got != 0.5 {
		t.Errorf("fake_up rate = %v, want 0.5", got)
	}
	// Iterations 0..19: p(95) of the trend is 18.05 ms.
	if got, ok := s.Quantile("fake_latency", "p(95)"); !ok || got != 18050*time.Microsecond {
		t.Errorf("fake_latency p95 = %v, %v; want 18.05ms", got, ok)
	}
	if s.Path != keep {
		t.Errorf("path = %q, want %q", s.Path, keep)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("summary not kept: %v", err)
	}
}

func TestRunScriptErrorRedactsSecrets(t *testing.T) {
	t.Parallel()
	k6 := k6Binary(t)
	const secret = "sk-very-secret-value"
	_, err := Run(t.Context(), k6, "testdata/throws.js", WithEnv(map[string]string{"API_KEY": secret}))
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want *ExitError", err)
	}
	if ee.Code != ExitScriptException {
		t.Errorf("code = %d, want %d", ee.Code, ExitScriptException)
	}
	if strings.Contains(ee.Stderr, secret) || strings.Contains(err.Error(), secret) {
		t.Error("secret leaked into the error")
	}
	if !strings.Contains(ee.Stderr, "[REDACTED]") || !strings.Contains(ee.Stderr, "boom in init") {
		t.Errorf("stderr tail lacks the redacted key or the error: %q", ee.Stderr)
	}
}

// TestRunMasksEverythingK6Writes runs a script that prints its API key and
// base URL (with a password and a ?key=) and requests that URL, and greps
// k6's output, the kept summary, the points file, the summary's metric
// names and the logs for them.
func TestRunMasksEverythingK6Writes(t *testing.T) {
	t.Parallel()
	k6 := k6Binary(t)
	const key, pw, query = "k6-canary-key-0123456789", "k6-url-pw-42", "k6-query-canary"
	base := "http://user:" + pw + "@127.0.0.1:1/?key=" + query
	dir := t.TempDir()
	var out, logs bytes.Buffer
	s, err := Run(t.Context(), k6, "testdata/leaky.js",
		WithEnv(map[string]string{"API_KEY": key, "BASE_URL": base}), WithOutput(&out),
		WithSummaryPath(filepath.Join(dir, "summary.json")), WithPointsPath(filepath.Join(dir, "points.json")),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(out.String(), "key is "+redact.Mask) {
		t.Errorf("k6's output is not there to check:\n%s", out.String())
	}
	names := strings.Join(slices.Collect(maps.Keys(s.Metrics)), "\n")
	if !strings.Contains(names, "http_req_duration{url:http://user:"+redact.Mask) {
		t.Errorf("the sub-metric of the URL is missing or unmasked:\n%s", names)
	}
	leaks, err := redacttest.ScanFiles([]string{dir}, key, pw, query)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"output": out.String(), "logs": logs.String(), "metric names": names} {
		leaks = append(leaks, redacttest.ScanText(name, text, key, pw, query)...)
	}
	if len(leaks) > 0 {
		t.Errorf("secrets leaked:\n%s", redacttest.Report(leaks))
	}
	if files, _ := redacttest.Files(dir); len(files) != 2 {
		t.Errorf("checked %v, want the summary and the points", files)
	}
}

func TestRunCancelStopsK6(t *testing.T) {
	t.Parallel()
	k6 := k6Binary(t)
	ctx, cancel := context.WithCancel(t.Context())
	summary := filepath.Join(t.TempDir(), "summary.json")
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, k6, "testdata/long.js", WithSummaryPath(summary), WithGracePeriod(20*time.Second))
		done <- err
	}()
	// Cancel once k6 is running: it has created nothing we can see before the
	// summary, so wait for its process to exist by polling its children.
	deadline := time.After(30 * time.Second)
	for !childRunning(t, "k6") {
		select {
		case <-deadline:
			t.Fatal("k6 did not start")
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// childRunning reports whether a child process of this test process has the
// given command name.
func childRunning(t *testing.T, name string) bool {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	self := os.Getpid()
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		open, closeIdx := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closeIdx < 0 || s[open+1:closeIdx] != name {
			continue
		}
		fields := strings.Fields(s[closeIdx+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(self) {
			return true
		}
	}
	return false
}

func TestParseSummaryFile(t *testing.T) {
	t.Parallel()
	s, err := ReadSummary("testdata/summary-export.json")
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := s.Availability(); !ok || a != 1 {
		t.Errorf("availability = %v, %v; want 1", a, ok)
	}
	if _, ok := s.TTFTP95(); !ok {
		t.Error("no aiuptime_ttft p95")
	}
	if !s.ThresholdsOK() || len(s.Thresholds()) == 0 {
		t.Errorf("thresholds: %v", s.Thresholds())
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	mk := func(ttft, up, iters float64) *Summary {
		return &Summary{Metrics: map[string]Metric{
			MetricTTFT:       {Values: map[string]float64{"p(95)": ttft}},
			MetricUp:         {Values: map[string]float64{"rate": up}},
			MetricIterations: {Values: map[string]float64{"count": iters}},
		}}
	}
	base := mk(100, 1, 200)
	for _, tc := range []struct {
		name string
		cur  *Summary
		want []string
	}{
		{"same", mk(100, 1, 200), nil},
		{"within tolerance", mk(140, 0.9, 160), nil},
		{"slower", mk(200, 1, 200), []string{MetricTTFT}},
		{"less available", mk(100, 0.4, 200), []string{MetricUp}},
		{"fewer iterations", mk(100, 1, 50), []string{MetricIterations}},
		{"missing metric", &Summary{Metrics: map[string]Metric{}}, []string{MetricTTFT, MetricUp, MetricIterations}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range Compare(base, tc.cur, DefaultChecks, 0.5, 5) {
				got = append(got, r.Metric)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("regressions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBaselineRoundTrip(t *testing.T) {
	t.Parallel()
	s, err := ReadSummary("testdata/summary-export.json")
	if err != nil {
		t.Fatal(err)
	}
	trimmed := s.Trim(MetricTTFT, MetricUp)
	if len(trimmed.Metrics) != 2 {
		t.Fatalf("trimmed to %d metrics, want 2", len(trimmed.Metrics))
	}
	p := filepath.Join(t.TempDir(), "baseline.json")
	if err := trimmed.WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), `"rate>=0.999"`) {
		t.Errorf("threshold sources not written verbatim:\n%s", b)
	}
	back, err := ReadJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(trimmed, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if regs := Compare(back, s, DefaultChecks, 0, 0); len(regs) != 0 {
		t.Errorf("a summary regresses against itself: %v", regs)
	}
}

// TestRunFinishedAsCancelled: k6 that exits 0 just as the caller stops it
// (its duration ran out as the drill ended) still gives its summary. exec
// reports the context's error rather than the exit status then; the run
// used to be lost with "context canceled". The stand-in for k6 here is
// a shell script that writes a summary and exits 0 on SIGINT, as k6 may.
func TestRunFinishedAsCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	fake := filepath.Join(dir, "k6")
	script := `#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = --summary-export ] && out="$2"; shift; done
trap 'printf "{\"metrics\":{\"iterations\":{\"count\":3,\"rate\":1}}}" > "$out"; exit 0' INT
: > ` + started + `
while :; do sleep 0.05; done
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	type result struct {
		sum *Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := Run(ctx, fake, "testdata/long.js", WithGracePeriod(10*time.Second))
		done <- result{sum, err}
	}()
	deadline := time.After(30 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		select {
		case <-deadline:
			t.Fatal("the stand-in did not start")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	r := <-done
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled (stopped by the caller)", r.err)
	}
	if r.sum == nil || r.sum.ExitCode != 0 {
		t.Fatalf("summary %+v: want the one k6 wrote, exit code 0", r.sum)
	}
	if n, _ := r.sum.Value("iterations", "count"); n != 3 {
		t.Errorf("iterations = %v, want 3", n)
	}
}
