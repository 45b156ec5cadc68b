package probe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

// collect drains a probe's channel.
func collect(t *testing.T, ch <-chan probe.Result) []probe.Result {
	t.Helper()
	var out []probe.Result
	for r := range ch {
		out = append(out, r)
	}
	return out
}

func start(t *testing.T, url string, opts ...probe.Option) []probe.Result {
	t.Helper()
	p, err := probe.New(url, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := p.Start(ctx)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return collect(t, ch)
}

func TestHealthCountsEveryRequestInOrder(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/liveliness" {
			http.NotFound(w, r)
			return
		}
		// Every third request fails.
		if n.Add(1)%3 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set(probe.BackendHeader, "model-0")
		io.WriteString(w, `"I'm alive!"`)
	}))
	defer srv.Close()
	res := start(t, srv.URL, probe.WithRate(500), probe.WithMaxRequests(60), probe.WithHealthPath("/health/liveliness"))
	if len(res) != 60 {
		t.Fatalf("got %d results, want 60", len(res))
	}
	seen := map[uint64]bool{}
	var ok, bad int
	for _, r := range res {
		if seen[r.Seq] {
			t.Fatalf("duplicate seq %d", r.Seq)
		}
		seen[r.Seq] = true
		switch {
		case r.Outcome == probe.OK && r.Code == 200 && r.Backend == "model-0":
			ok++
		case r.Outcome == probe.Error && r.Code == 503 && r.Err == "http 503":
			bad++
		default:
			t.Fatalf("unexpected result %+v", r)
		}
		if r.Latency <= 0 {
			t.Fatalf("latency %v not positive", r.Latency)
		}
	}
	if ok != 40 || bad != 20 {
		t.Fatalf("ok=%d bad=%d, want 40/20", ok, bad)
	}
}

// TestNoCoordinatedOmission: with one slot and a server slower than the
// interval, queued requests keep their intended start and their latency
// includes the wait.
func TestNoCoordinatedOmission(t *testing.T) {
	const delay = 40 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay) // the server under test is slow on purpose
	}))
	defer srv.Close()
	res := start(t, srv.URL, probe.WithInterval(10*time.Millisecond), probe.WithConcurrency(1), probe.WithMaxRequests(8))
	if len(res) != 8 {
		t.Fatalf("got %d results", len(res))
	}
	base := res[0].Start.Add(-time.Duration(res[0].Seq) * 10 * time.Millisecond)
	for _, r := range res {
		if want := base.Add(time.Duration(r.Seq) * 10 * time.Millisecond); !r.Start.Equal(want) {
			t.Fatalf("seq %d start %v, want intended %v", r.Seq, r.Start, want)
		}
		// Request k can only start after k earlier requests of 40ms each,
		// so its latency from its intended time is at least k*(40-10)+40 ms.
		min := time.Duration(r.Seq)*(delay-10*time.Millisecond) + delay
		if r.Latency < min {
			t.Errorf("seq %d latency %v < %v: waiting for the slot was omitted", r.Seq, r.Latency, min)
		}
	}
}

func TestTimeoutFromIntendedStart(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	res := start(t, srv.URL, probe.WithInterval(5*time.Millisecond), probe.WithTimeout(100*time.Millisecond), probe.WithMaxRequests(3))
	for _, r := range res {
		if r.Outcome != probe.Timeout {
			t.Fatalf("seq %d outcome %v (%s), want timeout", r.Seq, r.Outcome, r.Err)
		}
		if r.Latency < 100*time.Millisecond {
			t.Fatalf("timeout result latency %v below the deadline", r.Latency)
		}
	}
}

// chatServer is a tiny OpenAI-compatible server with switchable behaviour.
type chatServer struct {
	mode     atomic.Value // string
	sawKey   atomic.Value // string
	sawModel atomic.Value
}

func (s *chatServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.sawKey.Store(r.Header.Get("Authorization"))
	if r.URL.Path == "/v1/models" {
		io.WriteString(w, `{"object":"list","data":[{"id":"tiny-model","object":"model"}]}`)
		return
	}
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	s.sawModel.Store(req.Model)
	w.Header().Set(probe.BackendHeader, "dep-1")
	mode, _ := s.mode.Load().(string)
	if !req.Stream {
		switch mode {
		case "500":
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"message":"engine dead","type":"InternalServerError","param":null,"code":500}}`)
		case "nofinish":
			io.WriteString(w, `{"choices":[{"message":{"content":"x"},"finish_reason":null}]}`)
		default:
			io.WriteString(w, `{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],"usage":{"completion_tokens":1}}`)
		}
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	send := func(s string) { io.WriteString(w, s); fl.Flush() }
	tok := func(c string, fin string) string {
		f := "null"
		if fin != "" {
			f = `"` + fin + `"`
		}
		return fmt.Sprintf("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":%s}]}\n\n", c, f)
	}
	send(tok("a", ""))
	switch mode {
	case "stall":
		time.Sleep(300 * time.Millisecond) // a stalled engine, on purpose
		send(tok("b", "stop") + "data: [DONE]\n\n")
	case "error":
		send(`data: {"error":{"message":"engine died","code":500}}` + "\n\ndata: [DONE]\n\n")
	case "truncated":
		send(tok("b", ""))
	default:
		time.Sleep(5 * time.Millisecond)
		send(tok("b", ""))
		send(tok("", "stop"))
		send(`data: {"choices":[],"usage":{"completion_tokens":2}}` + "\n\ndata: [DONE]\n\n")
	}
}

func TestChatAndStreamOutcomes(t *testing.T) {
	const key = "sk-secret-test-key-123"
	cs := &chatServer{}
	srv := httptest.NewServer(cs)
	defer srv.Close()
	tests := []struct {
		mode, server string
		want         probe.Outcome
		wantCode     int
	}{
		{"chat", "ok", probe.OK, 200},
		{"chat", "500", probe.Error, 500},
		{"chat", "nofinish", probe.Truncated, 200},
		{"stream", "ok", probe.OK, 200},
		{"stream", "stall", probe.Stalled, 200},
		{"stream", "error", probe.Error, 200},
		{"stream", "truncated", probe.Truncated, 200},
	}
	for _, tt := range tests {
		t.Run(tt.mode+"/"+tt.server, func(t *testing.T) {
			cs.mode.Store(tt.server)
			var logs bytes.Buffer
			res := start(t, srv.URL+"/v1", probe.WithMode(probe.Mode(tt.mode)), probe.WithAPIKey(key),
				probe.WithMaxRequests(2), probe.WithStallThreshold(100*time.Millisecond),
				probe.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			if len(res) != 2 {
				t.Fatalf("got %d results", len(res))
			}
			for _, r := range res {
				if r.Outcome != tt.want || r.Code != tt.wantCode {
					t.Fatalf("outcome %v code %d err %q, want %v %d", r.Outcome, r.Code, r.Err, tt.want, tt.wantCode)
				}
				if r.Backend != "dep-1" {
					t.Errorf("backend %q", r.Backend)
				}
				if tt.mode == "stream" && r.TTFT <= 0 {
					t.Errorf("stream TTFT %v not recorded", r.TTFT)
				}
				if tt.mode == "stream" && tt.server == "ok" && (r.Tokens != 2 || len(r.ITL) != 1) {
					t.Errorf("tokens %d itl %v, want 2 tokens and one gap", r.Tokens, r.ITL)
				}
				if strings.Contains(r.Err, key) {
					t.Errorf("result error leaks the key: %q", r.Err)
				}
			}
			if got, _ := cs.sawKey.Load().(string); got != "Bearer "+key {
				t.Errorf("server saw Authorization %q", got)
			}
			if got, _ := cs.sawModel.Load().(string); got != "tiny-model" {
				t.Errorf("model %q, want the discovered tiny-model", got)
			}
			if strings.Contains(logs.String(), key) {
				t.Errorf("logs leak the API key:\n%s", logs.String())
			}
		})
	}
}

func TestStopIdempotentAndConnRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	p, err := probe.New(url, probe.WithInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := p.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Start(context.Background()); err == nil {
		t.Fatal("second Start should fail")
	}
	r := <-ch
	if r.Outcome != probe.Error || r.Code != 0 || r.Err == "" {
		t.Fatalf("refused connection gave %+v", r)
	}
	p.Stop()
	p.Stop()
	collect(t, ch)
	<-p.Done()
}

func TestOptionErrors(t *testing.T) {
	for name, opt := range map[string]probe.Option{
		"rate":        probe.WithRate(0),
		"interval":    probe.WithInterval(0),
		"concurrency": probe.WithConcurrency(0),
		"timeout":     probe.WithTimeout(-1),
		"mode":        probe.WithMode("bogus"),
		"path":        probe.WithHealthPath("health"),
	} {
		if _, err := probe.New("http://127.0.0.1:1", opt); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	if _, err := probe.New("127.0.0.1:80"); err == nil {
		t.Error("a target without scheme should be rejected")
	}
}

// TestDurationStopsASaturatedProbe: when the target cannot keep up, the
// duration still ends the run; the backlog is not sent afterwards.
func TestDurationStopsASaturatedProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // slower than the schedule, on purpose
	}))
	defer srv.Close()
	res := start(t, srv.URL, probe.WithRate(1000), probe.WithConcurrency(1), probe.WithDuration(200*time.Millisecond))
	// 200 requests were due; one slot at 50 ms each can send only a few.
	if len(res) == 0 || len(res) >= 100 {
		t.Fatalf("%d results: the duration did not stop the backlog", len(res))
	}
	for _, r := range res {
		if r.Outcome != probe.OK {
			t.Fatalf("result %+v", r)
		}
	}
}
