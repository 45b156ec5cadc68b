package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/reports"
)

// openAIServer is a tiny OpenAI-compatible gateway: health, one model, and
// chat completions streamed or not as each request asks.
type openAIServer struct{ streamed, plain atomic.Int64 }

func (s *openAIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/health":
		return
	case "/v1/models":
		io.WriteString(w, `{"object":"list","data":[{"id":"tiny","object":"model"}]}`)
		return
	case "/v1/chat/completions":
	default:
		http.NotFound(w, r)
		return
	}
	var req struct {
		Stream bool `json:"stream"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	if !req.Stream {
		s.plain.Add(1)
		io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],"usage":{"completion_tokens":1}}`)
		return
	}
	s.streamed.Add(1)
	w.Header().Set("Content-Type", "text/event-stream")
	for i, c := range []string{"a", "b", "c"} {
		if i > 0 {
			time.Sleep(time.Millisecond) // a gap between tokens, as an engine has
		}
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", c)
		w.(http.Flusher).Flush()
	}
	io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"completion_tokens\":3}}\n\ndata: [DONE]\n\n")
}

// TestRunChatProbeMeasuresTTFT: a plan with the shipped plans' chat probe
// and no stream_every measures TTFT, ITL and TPOT (1 request in 10
// streams); with stream_every: 0 nothing streams and every output says
// "not measured".
func TestRunChatProbeMeasuresTTFT(t *testing.T) {
	for _, tc := range []struct {
		name, probe string
		measured    bool
	}{
		{"default", "{interval: 20ms, mode: chat}", true},
		{"never", "{interval: 20ms, mode: chat, stream_every: 0}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &openAIServer{}
			srv := httptest.NewServer(s)
			defer srv.Close()
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "stack.yaml"), "kind: endpoints\nendpoints:\n"+
				"  - {name: gateway, role: gateway, url: \""+srv.URL+"\", health_path: /health}\n")
			writeFile(t, filepath.Join(dir, "plan.yaml"), "name: ttft\nstack: stack.yaml\nprobe: "+tc.probe+
				"\nservice_probes: {mode: off}\nsteps:\n  - {name: steady, wait: 1s}\n")
			t.Setenv(chaos.StateDirEnv, filepath.Join(dir, "state"))
			logs := captureLogger(t)
			out := filepath.Join(dir, "out")
			stdout, code, err := runCLI(t, "run", filepath.Join(dir, "plan.yaml"), "--out", out, "--progress", "never")
			if code != exitcode.Pass {
				t.Fatalf("drill run: exit %d: %v\n%s\n%s", code, err, stdout, logs)
			}
			r, err := reports.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			streamed, plain := s.streamed.Load(), s.plain.Load()
			if tc.measured != (streamed > 0) || plain == 0 {
				t.Fatalf("the server saw %d streamed and %d plain completions", streamed, plain)
			}
			for name, q := range map[string]reports.Quantiles{"ttft": r.TTFT, "itl": r.ITL, "tpot": r.TPOT} {
				if q.Measured() != tc.measured || (tc.measured && (q.P95 <= 0 || q.Count == 0)) {
					t.Errorf("%s %+v: measured %v, want %v", name, q, q.Measured(), tc.measured)
				}
			}
			if tc.measured && r.TTFT.Count > streamed {
				t.Errorf("%d TTFT samples from %d streamed requests", r.TTFT.Count, streamed)
			}
			md, _ := os.ReadFile(filepath.Join(out, reports.FileMarkdown))
			if got := strings.Contains(string(md), "| TTFT p50 / p95 / p99 | "+reports.NotMeasured+" |"); got == tc.measured {
				t.Errorf("report.md says TTFT not measured: %v, want %v", got, !tc.measured)
			}
		})
	}
}
