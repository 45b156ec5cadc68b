package kube

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/internal/proctest"
	"github.com/aiuptime/aiuptime/k6run"
)

const segModel = "seg-model"

// startModelServer runs the model-server fixture on 127.0.0.1 without
// simulated latency and returns its base URL.
func startModelServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(fixturebin.ForTest(t, fixturebin.ModelServer), fixturebin.ModelServer)
	dir := t.TempDir()
	if msg, err := exec.Command(bin, "gen-model", "--dir", filepath.Join(dir, "m"), "--name", segModel, "--size", "65536").CombinedOutput(); err != nil {
		t.Fatalf("gen-model: %v\n%s", err, msg)
	}
	port := proctest.FreePort(t)
	ms := proctest.Start(t, bin, "serve", "--model-dir", filepath.Join(dir, "m"), "--host", "127.0.0.1",
		"--port", strconv.Itoa(port), "--ttft", "0s", "--itl", "0s", "--load-rate", "0", "--run-dir", filepath.Join(dir, "run"))
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	ms.WaitOK(t, 30*time.Second, url+"/health")
	return url
}

// runRunner runs bin/k6 as a runner pod does (RunnerArgs, the summary on
// stdout) with stdout and stderr in one buffer, as a pod log holds them,
// and reads the summary back with ParseLog.
func runRunner(t *testing.T, k6, config, script string, env []string) *k6run.Summary {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), k6, RunnerArgs(config, script)...)
	cmd.Env = append(os.Environ(), env...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("k6: %v", err)
		}
		code = ee.ExitCode()
	}
	s, err := ParseLog(log.Bytes())
	if err != nil {
		t.Fatalf("k6 exited %d; %v; log:\n%s", code, err, fixturebin.Tail(log.String(), 20))
	}
	s.ExitCode = code
	return s
}

// TestSegmentedRunsMergeToTheWhole runs the fixed-iterations script three
// times with the execution segments of a 3-runner Job (the same k6 config
// files the Job mounts) and once unsegmented, against one model-server
// fixture: the merged iteration and request counts must equal the sum of
// the runners' and the unsegmented run's, an independent check of the
// segments (no overlap, no gap) and of the merge.
func TestSegmentedRunsMergeToTheWhole(t *testing.T) {
	k6 := filepath.Join(fixturebin.ForTest(t, fixturebin.K6), fixturebin.K6)
	url := startModelServer(t)
	const iterations = 40
	env := []string{"BASE_URL=" + url + "/v1", "MODEL=" + segModel, "ITERATIONS=" + strconv.Itoa(iterations), "VUS=4", "K6_NO_USAGE_REPORT=true"}
	script, err := filepath.Abs("testdata/fixed.js")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const n = 3 // 4 VUs and 40 iterations do not split evenly in three
	var parts []Part
	for i := range n {
		b, err := SegmentConfig(i, n)
		if err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, segmentConfigName(i))
		if err := os.WriteFile(cfg, b, 0o644); err != nil {
			t.Fatal(err)
		}
		s := runRunner(t, k6, cfg, script, env)
		parts = append(parts, Part{Index: i, ExitCode: s.ExitCode, Summary: s})
		t.Logf("runner %d (segment %s): %v iterations, exit %d", i, Segment(i, n), s.Iterations(), s.ExitCode)
	}
	whole := runRunner(t, k6, "", script, env)
	m, err := Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, p := range parts {
		if p.Summary.Iterations() == 0 || p.Summary.Iterations() == iterations {
			t.Errorf("runner %d ran %v iterations: the segment did not split the work", p.Index, p.Summary.Iterations())
		}
		sum += p.Summary.Iterations()
	}
	t.Logf("merged %v iterations, sum %v, unsegmented %v", m.Summary.Iterations(), sum, whole.Iterations())
	for _, n := range m.QuantileNotes() {
		if strings.HasPrefix(n, k6run.MetricTTFT+" p(95)") {
			t.Log(n)
		}
	}
	if got := m.Summary.Iterations(); got != sum || got != whole.Iterations() || got != iterations {
		t.Errorf("merged iterations %v; sum of runners %v, unsegmented %v, script %d: want all equal", got, sum, whole.Iterations(), iterations)
	}
	for _, metric := range []string{"http_reqs", "aiuptime_stream_outcome"} {
		got, _ := m.Summary.Value(metric, "count")
		want, _ := whole.Value(metric, "count")
		if got != want || got != iterations {
			t.Errorf("%s count: merged %v, unsegmented %v, want %d", metric, got, want, iterations)
		}
	}
	if up, ok := m.Summary.Availability(); !ok || up != 1 {
		t.Errorf("merged availability %v (%v), want 1", up, ok)
	}
	ttft := m.Summary.Metrics[k6run.MetricTTFT].Values
	if ttft["count"] != iterations {
		t.Errorf("merged TTFT count %v, want %d (trend counts must be exported)", ttft["count"], iterations)
	}
	if b := m.Quantiles[k6run.MetricTTFT]["p(95)"]; len(b.PerPod) != n || b.Max != ttft["p(95)"] || b.Min > b.Max {
		t.Errorf("TTFT p(95) bounds %+v, merged value %v", b, ttft["p(95)"])
	}
}
