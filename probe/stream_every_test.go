package probe_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

// sawServer answers chat completions, streamed or not as each request
// asks, and keeps its own record: how many of each it saw, and it names
// what it saw in the backend header of the answer, so every Result carries
// the server's view of its own request.
type sawServer struct {
	streamed, plain, noUsage atomic.Int64
}

func (s *sawServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Stream        bool `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !req.Stream {
		s.plain.Add(1)
		w.Header().Set(probe.BackendHeader, "plain")
		io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],"usage":{"completion_tokens":1}}`)
		return
	}
	s.streamed.Add(1)
	if req.StreamOptions == nil || !req.StreamOptions.IncludeUsage {
		s.noUsage.Add(1)
	}
	w.Header().Set(probe.BackendHeader, "streamed")
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	for i, c := range []string{"a", "b", "c"} {
		if i > 0 {
			time.Sleep(2 * time.Millisecond) // a gap between tokens, as an engine has
		}
		fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", c)
		fl.Flush()
	}
	io.WriteString(w, `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n")
	io.WriteString(w, `data: {"choices":[],"usage":{"completion_tokens":3}}`+"\n\ndata: [DONE]\n\n")
}

// TestStreamEvery: in chat mode, every nth request (by Seq, the first
// included) streams and carries TTFT and inter-token gaps; the others stay
// plain completions. What the server saw is the independent truth.
func TestStreamEvery(t *testing.T) {
	const total = 40
	for _, n := range []int{1, 4, 10} {
		t.Run(fmt.Sprintf("every %d", n), func(t *testing.T) {
			s := &sawServer{}
			srv := httptest.NewServer(s)
			defer srv.Close()
			res := start(t, srv.URL, probe.WithMode(probe.ModeChat), probe.WithModel("m"), probe.WithStreamEvery(n),
				probe.WithRate(1000), probe.WithMaxRequests(total))
			if len(res) != total {
				t.Fatalf("got %d results, want %d", len(res), total)
			}
			wantStreamed := int64((total + n - 1) / n)
			if got := s.streamed.Load(); got != wantStreamed {
				t.Errorf("server saw %d streaming requests, want %d of %d", got, wantStreamed, total)
			}
			if got := s.plain.Load(); got != total-wantStreamed {
				t.Errorf("server saw %d plain requests, want %d", got, total-wantStreamed)
			}
			if got := s.noUsage.Load(); got != 0 {
				t.Errorf("%d streaming requests without stream_options.include_usage", got)
			}
			var withTTFT int64
			for _, r := range res {
				if r.Outcome != probe.OK {
					t.Fatalf("seq %d: outcome %v (%s)", r.Seq, r.Outcome, r.Err)
				}
				streams := r.Seq%uint64(n) == 0
				if want := map[bool]string{true: "streamed", false: "plain"}[streams]; r.Backend != want {
					t.Errorf("seq %d: the server saw a %s request, want %s", r.Seq, r.Backend, want)
				}
				if r.TTFT > 0 {
					withTTFT++
				}
				switch {
				case streams && (r.TTFT <= 0 || r.TTFT > r.Latency || len(r.ITL) != 2 || r.Tokens != 3):
					t.Errorf("seq %d streamed: ttft %v latency %v itl %v tokens %d, want a TTFT, two gaps, 3 tokens",
						r.Seq, r.TTFT, r.Latency, r.ITL, r.Tokens)
				case !streams && (r.TTFT != 0 || len(r.ITL) != 0 || r.Tokens != 1):
					t.Errorf("seq %d plain: ttft %v itl %v tokens %d, want none and 1 token", r.Seq, r.TTFT, r.ITL, r.Tokens)
				}
			}
			if withTTFT != wantStreamed {
				t.Errorf("%d results carry a TTFT, want %d (1 in %d)", withTTFT, wantStreamed, n)
			}
		})
	}
}

func TestStreamEveryErrors(t *testing.T) {
	for name, opts := range map[string][]probe.Option{
		"zero":     {probe.WithMode(probe.ModeChat), probe.WithStreamEvery(0)},
		"negative": {probe.WithMode(probe.ModeChat), probe.WithStreamEvery(-3)},
		"health":   {probe.WithMode(probe.ModeHealth), probe.WithStreamEvery(10)},
		"stream":   {probe.WithMode(probe.ModeStream), probe.WithStreamEvery(10)},
	} {
		if _, err := probe.New("http://127.0.0.1:1", opts...); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	// The order of the options does not matter.
	if _, err := probe.New("http://127.0.0.1:1", probe.WithStreamEvery(5), probe.WithMode(probe.ModeChat)); err != nil {
		t.Errorf("stream every before chat mode: %v", err)
	}
}
