package aiuptime

// Real runs of the built k6 binary against the real fixtures: two model
// servers (aiuptime-modelserver) behind the LiteLLM-compatible gateway
// (aiuptime-gateway), all on 127.0.0.1. The binaries come from $AIUPTIME_BIN
// or ../bin (`make k6 fixtures`); when missing they are built here.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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
)

const (
	e2eModel     = "e2e-model"
	e2eMasterKey = "sk-e2e-master-key"
	e2eTTFT      = 20 * time.Millisecond
)

// binary returns a built binary: $AIUPTIME_BIN/name, ../bin/name, or a build
// of pkg in dir (a module root) into a temporary directory.
func binary(t *testing.T, name, dir, pkg string) string {
	t.Helper()
	for _, d := range []string{os.Getenv("AIUPTIME_BIN"), filepath.Join("..", "bin")} {
		if d == "" {
			continue
		}
		if p, err := filepath.Abs(filepath.Join(d, name)); err == nil {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p
			}
		}
	}
	out := filepath.Join(t.TempDir(), name)
	t.Logf("building %s (not found in $AIUPTIME_BIN or ../bin)", name)
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}

// freePort returns a port that was free a moment ago on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProcess starts a fixture process and stops it (SIGTERM, then kill) at
// cleanup; its output goes to the test log on failure.
func startProcess(t *testing.T, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), filepath.Base(bin)+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s output:\n%s", filepath.Base(bin), lastN(string(b), 40))
		}
	})
}

func lastN(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitHealthy polls url until it answers 200.
func waitHealthy(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not healthy within 60s", url)
}

// fixtureStack is two model servers behind the gateway.
type fixtureStack struct {
	gatewayURL string            // base URL ending in /v1
	backends   map[string]string // deployment id -> model server URL
}

var (
	k6Once sync.Once
	k6Path string
	k6Err  error
)

// k6Binary returns bin/k6 or builds the extension's cmd/k6 once per test run.
func k6Binary(t *testing.T) string {
	t.Helper()
	k6Once.Do(func() {
		for _, d := range []string{os.Getenv("AIUPTIME_BIN"), filepath.Join("..", "bin")} {
			if d == "" {
				continue
			}
			if p, err := filepath.Abs(filepath.Join(d, "k6")); err == nil {
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
					k6Path = p
					return
				}
			}
		}
		dir, err := os.MkdirTemp("", "xk6-aiuptime-k6-")
		if err != nil {
			k6Err = err
			return
		}
		k6Path = filepath.Join(dir, "k6")
		cmd := exec.Command("go", "build", "-trimpath", "-o", k6Path, "./cmd/k6")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			k6Err = fmt.Errorf("build k6: %w\n%s", err, b)
		}
	})
	if k6Err != nil {
		t.Fatal(k6Err)
	}
	return k6Path
}

func startFixtureStack(t *testing.T) fixtureStack {
	t.Helper()
	ms := binary(t, "aiuptime-modelserver", "..", "./fixtures/modelserver/cmd/aiuptime-modelserver")
	gw := binary(t, "aiuptime-gateway", "..", "./fixtures/gateway/cmd/aiuptime-gateway")
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "model")
	if b, err := exec.Command(ms, "gen-model", "--dir", modelDir, "--name", e2eModel, "--version", "1", "--size", "65536").CombinedOutput(); err != nil {
		t.Fatalf("gen-model: %v\n%s", err, b)
	}
	fs := fixtureStack{backends: map[string]string{}}
	var modelList strings.Builder
	for i := range 2 {
		port := freePort(t)
		runDir := filepath.Join(dir, fmt.Sprintf("run-%d", i))
		startProcess(t, ms, "serve", "--model-dir", modelDir, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
			"--served-model-name", e2eModel, "--ttft", e2eTTFT.String(), "--itl", "2ms",
			"--load-rate", "0", "--run-dir", runDir)
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		waitHealthy(t, url+"/health")
		id := fmt.Sprintf("deployment-%d", i)
		fs.backends[id] = url
		fmt.Fprintf(&modelList, "  - model_name: %s\n    litellm_params:\n      model: hosted_vllm/%s\n      api_base: %s/v1\n      api_key: none\n      weight: 1\n    model_info:\n      id: %s\n",
			e2eModel, e2eModel, url, id)
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	conf := "model_list:\n" + modelList.String() +
		"general_settings:\n  master_key: " + e2eMasterKey + "\n  database_path: " + filepath.Join(dir, "gateway.db") + "\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	startProcess(t, gw, "--config", cfg, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHealthy(t, base+"/health/liveliness")
	fs.gatewayURL = base + "/v1"
	return fs
}

// k6Result is what a real k6 run left behind.
type k6Result struct {
	exitCode int
	stderr   string
	metrics  map[string]map[string]any // --summary-export metrics
	samples  []jsonSample              // --out json points
}

type jsonSample struct {
	Metric string `json:"metric"`
	Type   string `json:"type"`
	Data   struct {
		Value float64           `json:"value"`
		Tags  map[string]string `json:"tags"`
	} `json:"data"`
}

func runK6(t *testing.T, script string, env map[string]string) k6Result {
	t.Helper()
	k6 := k6Binary(t)
	dir := t.TempDir()
	summary, points := filepath.Join(dir, "summary.json"), filepath.Join(dir, "points.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k6, "run", "--no-color", "--quiet", "--summary-export", summary,
		"--summary-trend-stats", "avg,min,med,max,p(95)", "--out", "json="+points, script)
	cmd.Env = append(os.Environ(), "K6_NO_USAGE_REPORT=true")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := k6Result{stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.exitCode = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run k6: %v", err)
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		t.Fatalf("k6 wrote no summary (exit %d): %v\n%s", res.exitCode, err, res.stderr)
	}
	var sum struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	res.metrics = sum.Metrics
	f, err := os.Open(points)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var s jsonSample
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.Type == "Point" {
			res.samples = append(res.samples, s)
		}
	}
	return res
}

func (r k6Result) value(t *testing.T, metric, stat string) float64 {
	t.Helper()
	v, ok := r.metrics[metric][stat].(float64)
	if !ok {
		t.Fatalf("summary has no %s %s; metrics: %v\nstderr:\n%s", metric, stat, keys(r.metrics), r.stderr)
	}
	return v
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestScriptsInspect has k6 evaluate every script's options (executors,
// thresholds from the environment) without sending traffic.
func TestScriptsInspect(t *testing.T) {
	if testing.Short() {
		t.Skip("runs k6")
	}
	k6 := k6Binary(t)
	scripts, err := filepath.Glob("scripts/*.js")
	if err != nil || len(scripts) < 5 {
		t.Fatalf("scripts: %v %v", scripts, err)
	}
	for _, s := range scripts {
		// inspect does not pass the process environment to __ENV: use -e.
		cmd := exec.Command(k6, "inspect", "--execution-requirements",
			"-e", "BASE_URL=http://127.0.0.1:9/v1", "-e", "MODEL=m", "-e", "P95_MS=1500", s)
		cmd.Env = append(os.Environ(), "K6_NO_USAGE_REPORT=true")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
			continue
		}
		var got struct {
			Thresholds map[string][]string `json:"thresholds"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
			continue
		}
		if th := got.Thresholds[MetricE2E]; len(th) != 1 || th[0] != "p(95)<1500" {
			t.Errorf("%s: aiuptime_e2e thresholds = %v, want [p(95)<1500] from P95_MS", s, th)
		}
	}
	cmd := exec.Command(k6, "inspect", "-e", "MODEL=m", "scripts/load.js")
	cmd.Env = append(os.Environ(), "K6_NO_USAGE_REPORT=true")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "BASE_URL is required") {
		t.Errorf("missing BASE_URL: err %v, output %s", err, out)
	}
}

func TestK6ScriptsAgainstFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and runs k6")
	}
	st := startFixtureStack(t)
	env := map[string]string{"BASE_URL": st.gatewayURL, "API_KEY": e2eMasterKey, "MODEL": e2eModel}

	t.Run("smoke streams through the gateway", func(t *testing.T) {
		e := maps(env, "ITERATIONS", "8")
		r := runK6(t, "scripts/smoke.js", e)
		if r.exitCode != 0 {
			t.Fatalf("k6 exit %d\n%s", r.exitCode, r.stderr)
		}
		if got := r.value(t, "iterations", "count"); got != 8 {
			t.Errorf("iterations = %v, want 8", got)
		}
		if got := r.value(t, MetricUp, "value"); got != 1 {
			t.Errorf("aiuptime_up = %v, want 1", got)
		}
		// The fixture waits e2eTTFT before the first token: no TTFT can be
		// shorter, whatever the machine's speed.
		if got := r.value(t, MetricTTFT, "min"); got < float64(e2eTTFT.Milliseconds()) {
			t.Errorf("aiuptime_ttft min = %vms, below the fixture's %v", got, e2eTTFT)
		}
		for _, m := range []string{MetricITL, MetricTPOT, MetricE2E} {
			if got := r.value(t, m, "avg"); got <= 0 {
				t.Errorf("%s avg = %v, want > 0", m, got)
			}
		}
		if got := r.value(t, MetricOutputTokens, "count"); got < 8 {
			t.Errorf("output tokens = %v, want >= one per request", got)
		}
		seen := map[string]bool{}
		for _, s := range r.samples {
			if s.Metric != MetricUp {
				continue
			}
			if s.Data.Tags[TagModel] != e2eModel {
				t.Errorf("model tag = %q", s.Data.Tags[TagModel])
			}
			seen[s.Data.Tags[TagBackend]] = true
			for k, v := range s.Data.Tags {
				if strings.Contains(v, e2eMasterKey) {
					t.Errorf("API key in tag %s", k)
				}
			}
		}
		for id := range st.backends {
			if !seen[id] {
				t.Errorf("no sample tagged backend=%s; seen %v", id, keys(seen))
			}
		}
		if strings.Contains(r.stderr, e2eMasterKey) {
			t.Error("API key in k6 output")
		}
	})

	t.Run("load at a constant arrival rate, chat mode", func(t *testing.T) {
		e := maps(env, "RATE", "10", "DURATION", "3s", "STREAM", "false")
		r := runK6(t, "scripts/load.js", e)
		if r.exitCode != 0 {
			t.Fatalf("k6 exit %d\n%s", r.exitCode, r.stderr)
		}
		if got := r.value(t, "http_reqs", "count"); got < 25 {
			t.Errorf("http_reqs = %v, want about 30", got)
		}
		if _, ok := r.metrics[MetricTTFT]; ok {
			t.Error("chat mode must not report TTFT")
		}
	})

	t.Run("soak, spike and failover run briefly and pass", func(t *testing.T) {
		for script, kv := range map[string][]string{
			"scripts/soak.js":     {"RATE", "5", "DURATION", "2s"},
			"scripts/spike.js":    {"BASE_RATE", "2", "SPIKE_RATE", "10", "STAGE", "1s"},
			"scripts/failover.js": {"RATE", "5", "DURATION", "2s"},
		} {
			r := runK6(t, script, maps(env, kv...))
			if r.exitCode != 0 {
				t.Errorf("%s: k6 exit %d\n%s", script, r.exitCode, r.stderr)
				continue
			}
			if got := r.value(t, MetricUp, "value"); got != 1 {
				t.Errorf("%s: aiuptime_up = %v, want 1", script, got)
			}
		}
	})

	t.Run("wrong key fails the thresholds", func(t *testing.T) {
		e := maps(env, "API_KEY", "sk-wrong", "ITERATIONS", "3")
		r := runK6(t, "scripts/smoke.js", e)
		if r.exitCode != 99 {
			t.Fatalf("k6 exit %d, want 99 (thresholds failed)\n%s", r.exitCode, r.stderr)
		}
		if got := r.value(t, MetricUp, "value"); got != 0 {
			t.Errorf("aiuptime_up = %v, want 0", got)
		}
		if got := r.value(t, "http_req_failed", "value"); got != 1 {
			t.Errorf("http_req_failed = %v, want 1", got)
		}
		outcomes := map[string]bool{}
		for _, s := range r.samples {
			if s.Metric == MetricOutcome {
				outcomes[s.Data.Tags[TagOutcome]] = true
			}
		}
		if !outcomes[OutcomeError] || len(outcomes) != 1 {
			t.Errorf("outcomes = %v, want only error", keys(outcomes))
		}
	})
}

// maps copies m and sets the key/value pairs kv.
func maps(m map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
