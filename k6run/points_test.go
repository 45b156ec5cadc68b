package k6run

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/aiuptime/aiuptime/probe"
)

// streamServer answers chat completions as a vLLM stream behind a gateway;
// every second request ends without [DONE] (truncated).
func streamServer(t *testing.T) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("x-litellm-model-id", "dep-a")
		fl := w.(http.Flusher)
		for _, c := range []string{"a", "b", "c"} {
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", c)
			fl.Flush()
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
		fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"completion_tokens\":3}}\n\n")
		if n.Add(1)%2 == 1 {
			fmt.Fprint(w, "data: [DONE]\n\n")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReadRequests(t *testing.T) {
	t.Parallel()
	k6 := k6Binary(t)
	srv := streamServer(t)
	points := filepath.Join(t.TempDir(), "points.json")
	s, err := Run(t.Context(), k6, filepath.Join("..", "xk6-aiuptime", "scripts", "smoke.js"),
		WithEnv(map[string]string{"BASE_URL": srv.URL + "/v1", "MODEL": "m", "ITERATIONS": "6"}),
		WithPointsPath(points))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s.ThresholdsOK() {
		t.Error("half the streams were truncated, yet the thresholds passed")
	}
	if a, _ := s.Availability(); a != 0.5 {
		t.Errorf("availability = %v, want 0.5", a)
	}
	reqs, err := ReadRequests(points)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 6 {
		t.Fatalf("%d requests, want 6: %+v", len(reqs), reqs)
	}
	outcomes := map[probe.Outcome]int{}
	for i, r := range reqs {
		if r.Backend != "dep-a" || r.Model != "m" || r.Tokens != 3 {
			t.Errorf("request %d: %+v", i, r)
		}
		if r.TTFT <= 0 || r.E2E < r.TTFT {
			t.Errorf("request %d: ttft %v, e2e %v", i, r.TTFT, r.E2E)
		}
		if i > 0 && r.End.Before(reqs[i-1].End) {
			t.Errorf("request %d out of order", i)
		}
		res := r.Result(uint64(i))
		if !res.End().Equal(r.End) {
			t.Errorf("request %d: result ends %v, want %v", i, res.End(), r.End)
		}
		outcomes[res.Outcome]++
	}
	if outcomes[probe.OK] != 3 || outcomes[probe.Truncated] != 3 {
		t.Errorf("outcomes = %v, want 3 ok and 3 truncated", outcomes)
	}
}
