package rollout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// metricsServer serves vLLM-style metrics whose running-requests gauge
// counts down by one per scrape from start (never, if stuck).
func metricsServer(t *testing.T, start int64, stuck bool) *httptest.Server {
	var n atomic.Int64
	n.Store(start)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := n.Load()
		if !stuck && v > 0 {
			n.Add(-1)
		}
		fmt.Fprintf(w, "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{engine=\"0\",model_name=\"m\"} %d\n", v)
		fmt.Fprintf(w, "# TYPE vllm:e2e_request_latency_seconds histogram\nvllm:e2e_request_latency_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 4\nvllm:e2e_request_latency_seconds_sum{model_name=\"m\"} 2\nvllm:e2e_request_latency_seconds_count{model_name=\"m\"} 4\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDrain(t *testing.T) {
	ctx := context.Background()
	srv := metricsServer(t, 3, false)
	if _, err := Drain(ctx, srv.URL, 5*time.Second); err != nil {
		t.Fatalf("drain: %v", err)
	}
	stuck := metricsServer(t, 2, true)
	_, err := Drain(ctx, stuck.URL, 200*time.Millisecond)
	if !errors.Is(err, ErrDrainTimeout) {
		t.Fatalf("stuck drain: got %v, want ErrDrainTimeout", err)
	}
	fams, err := Scrape(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if s, c := HistSumCount(fams, "vllm:e2e_request_latency_seconds"); s != 2 || c != 4 {
		t.Fatalf("histogram sum %v count %v", s, c)
	}
}

func TestReleaseString(t *testing.T) {
	for _, tc := range []struct {
		r    Release
		want string
	}{
		{Release{}, "same release"},
		{Release{Image: "a:1", ModelVersion: "2"}, "image a:1, model 2"},
		{Release{Args: []string{"--error-rate", "0.5"}}, "args --error-rate 0.5"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v: got %q want %q", tc.r, got, tc.want)
		}
		if n := len(tc.r.Options()); (tc.want == "same release") != (n == 0) {
			t.Errorf("%+v: %d options", tc.r, n)
		}
	}
}
