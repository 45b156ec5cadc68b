package probe_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/internal/proctest"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/uptime"
)

// benchDuration is how long each side of the probe/hey comparison runs.
const benchDuration = 3 * time.Second

// benchConns is hey's -c and the probe's concurrency cap.
const benchConns = 50

// gatewayTarget starts the fixture gateway (a real process) and returns its
// liveliness URL.
func gatewayTarget(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(fixturebin.ForTest(b, fixturebin.Gateway), fixturebin.Gateway)
	dir := b.TempDir()
	cfg := fmt.Sprintf(`model_list:
  - model_name: tiny
    litellm_params: {model: hosted_vllm/tiny, api_base: http://127.0.0.1:9/v1}
    model_info: {id: replica-0}
general_settings: {master_key: sk-bench, database_path: %s}
`, filepath.Join(dir, "gw.db"))
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	port := proctest.FreePort(b)
	gw := proctest.Start(b, bin, "--config", filepath.Join(dir, "config.yaml"), "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--log-level", "error")
	url := fmt.Sprintf("http://127.0.0.1:%d/health/liveliness", port)
	gw.WaitOK(b, 30*time.Second, url)
	return url
}

var heyRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// runHey runs hey against url and returns its requests per second.
func runHey(b *testing.B, url string) (float64, bool) {
	b.Helper()
	hey, err := exec.LookPath("hey")
	if err != nil {
		return 0, false
	}
	out, err := exec.Command(hey, "-z", benchDuration.String(), "-c", strconv.Itoa(benchConns), "-disable-compression", url).CombinedOutput()
	if err != nil {
		b.Fatalf("hey: %v\n%s", err, out)
	}
	m := heyRPS.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no Requests/sec in hey's output:\n%s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	return rps, true
}

// runProbe probes url at rate (open loop, capped at benchConns in flight)
// for benchDuration, recording every result into an Analyzer and a Window
// as a drill does. It returns completed results per second, the analysis
// and the largest send lag.
func runProbe(b *testing.B, url string, rate float64) (float64, *uptime.Analysis, time.Duration) {
	b.Helper()
	base, path := url[:len(url)-len("/health/liveliness")], "/health/liveliness"
	p, err := probe.New(base, probe.WithHealthPath(path), probe.WithRate(rate), probe.WithConcurrency(benchConns),
		probe.WithDuration(benchDuration), probe.WithTimeout(30*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	a, _ := uptime.NewAnalyzer()
	w, _ := uptime.NewWindow(10 * time.Second)
	begin := time.Now()
	ch, err := p.Start(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for r := range ch {
		a.Add(r)
		w.Add(r)
		n++
	}
	elapsed := time.Since(begin)
	an := a.Close()
	if an.Failed > 0 {
		b.Fatalf("%d of %d probe requests failed: %v", an.Failed, an.Total, an.ByOutcome)
	}
	return float64(n) / elapsed.Seconds(), an, p.MaxLag()
}

// BenchmarkProbeVsHey compares, against the same real target (the fixture
// gateway's /health/liveliness), the probe's throughput with recording to
// hey's, with the same 50 connections, and checks that 500 req/s is
// sustained on schedule.
func BenchmarkProbeVsHey(b *testing.B) {
	url := gatewayTarget(b)
	for range b.N {
		heyRate, ok := runHey(b, url)
		probeRate, _, _ := runProbe(b, url, 1e6) // saturate: as fast as 50 slots allow
		sustRate, an, lag := runProbe(b, url, 500)
		b.ReportMetric(probeRate, "probe-req/s")
		b.ReportMetric(sustRate, "at500-req/s")
		b.ReportMetric(float64(an.Latency.P99.Microseconds())/1000, "at500-p99-ms")
		b.ReportMetric(float64(lag.Microseconds())/1000, "at500-maxlag-ms")
		if ok {
			b.ReportMetric(heyRate, "hey-req/s")
			b.ReportMetric(probeRate/heyRate, "probe/hey")
		} else {
			b.Log("hey not installed (apt-get install hey): probe numbers only")
		}
	}
}
