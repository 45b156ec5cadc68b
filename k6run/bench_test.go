package k6run

// BenchmarkClientOverhead measures, side by side against one model-server
// fixture (no simulated latency), the request throughput of:
//
//   - client.chat of the xk6-aiuptime extension in k6 (scripts/bench/chat.js),
//   - k6's own http.post of the same request (scripts/bench/httppost.js),
//   - the harness's probe (probe.New in chat mode, closed loop),
//   - a plain Go loop of net/http POSTs with JSON decoding,
//
// each with benchVUs concurrent workers and benchIterations requests, and
// reports the iterations/s of each plus the ratios. Run it with
//
//	go test -run '^$' -bench ClientOverhead -benchtime 1x ./k6run
//
// (`make bench` runs it with every other benchmark).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/internal/proctest"
	"github.com/aiuptime/aiuptime/probe"
)

const (
	benchVUs        = 4
	benchIterations = 4000
	benchModel      = "bench-model"
)

// startModelServer runs the model-server fixture on 127.0.0.1 with no
// simulated latency and returns its base URL.
func startModelServer(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(fixturebin.ForTest(b, fixturebin.ModelServer), fixturebin.ModelServer)
	dir := b.TempDir()
	if msg, err := exec.Command(bin, "gen-model", "--dir", filepath.Join(dir, "m"), "--name", benchModel, "--size", "65536").CombinedOutput(); err != nil {
		b.Fatalf("gen-model: %v\n%s", err, msg)
	}
	port := proctest.FreePort(b)
	ms := proctest.Start(b, bin, "serve", "--model-dir", filepath.Join(dir, "m"), "--host", "127.0.0.1",
		"--port", strconv.Itoa(port), "--ttft", "0s", "--itl", "0s", "--load-rate", "0", "--run-dir", filepath.Join(dir, "run"))
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	ms.WaitOK(b, 30*time.Second, url+"/health")
	return url
}

func BenchmarkClientOverhead(b *testing.B) {
	root, err := fixturebin.ModuleRoot()
	if err != nil {
		b.Fatal(err)
	}
	k6 := k6Binary(b)
	url := startModelServer(b)
	scripts := filepath.Join(root, "xk6-aiuptime", "scripts", "bench")
	env := map[string]string{
		"BASE_URL": url + "/v1", "MODEL": benchModel,
		"VUS": strconv.Itoa(benchVUs), "ITERATIONS": strconv.Itoa(benchIterations),
	}
	ctx := context.Background()

	k6Rate := func(script string) float64 {
		s, err := Run(ctx, k6, filepath.Join(scripts, script), WithEnv(env))
		if err != nil {
			b.Fatalf("k6 %s: %v", script, err)
		}
		if got := s.Iterations(); got != benchIterations {
			b.Fatalf("k6 %s: %v iterations, want %d", script, got, benchIterations)
		}
		return s.IterationsPerSecond()
	}
	probeRate := func() float64 {
		p, err := probe.New(url, probe.WithMode(probe.ModeChat), probe.WithModel(benchModel),
			probe.WithRate(1e6), probe.WithTimeout(time.Minute), probe.WithConcurrency(benchVUs), probe.WithMaxRequests(benchIterations))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		results, err := p.Start(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n, bad := 0, 0
		for r := range results {
			n++
			if !r.Outcome.Good() {
				bad++
			}
		}
		if bad > 0 {
			b.Fatalf("probe: %d of %d requests failed", bad, n)
		}
		return float64(n) / time.Since(start).Seconds()
	}
	goLoopRate := func() float64 {
		body, _ := json.Marshal(map[string]any{"model": benchModel, "max_tokens": 4, "stream": false,
			"messages": []map[string]string{{"role": "user", "content": "hi"}}})
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchVUs}}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		next := make(chan struct{}, benchIterations)
		for range benchIterations {
			next <- struct{}{}
		}
		close(next)
		start := time.Now()
		for range benchVUs {
			wg.Go(func() {
				for range next {
					resp, err := hc.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
					if err == nil {
						var v map[string]any
						err = json.NewDecoder(resp.Body).Decode(&v)
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
					}
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if firstErr != nil {
			b.Fatal(firstErr)
		}
		return benchIterations / time.Since(start).Seconds()
	}

	var chat, post, prb, loop float64
	b.ResetTimer()
	for range b.N {
		chat += k6Rate("chat.js")
		post += k6Rate("httppost.js")
		prb += probeRate()
		loop += goLoopRate()
	}
	n := float64(b.N)
	b.ReportMetric(chat/n, "chat_iter/s")
	b.ReportMetric(post/n, "httppost_iter/s")
	b.ReportMetric(prb/n, "probe_req/s")
	b.ReportMetric(loop/n, "goloop_req/s")
	b.ReportMetric(chat/post, "chat/httppost")
	b.ReportMetric(chat/prb, "chat/probe")
	b.ReportMetric(chat/loop, "chat/goloop")
}
