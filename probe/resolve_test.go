package probe_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

// TestResolverFollowsAMovedTarget: the target starts at old, which then
// goes away, and its resolver soon names new (a Kubernetes pod replaced by
// its Deployment). The probe's later requests reach new; without the
// resolver every request after the move fails.
func TestResolverFollowsAMovedTarget(t *testing.T) {
	serve := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set(probe.BackendHeader, name)
			io.WriteString(w, "ok")
		}))
	}
	for _, follow := range []bool{true, false} {
		old, moved := serve("old"), serve("new")
		var at atomic.Value
		at.Store(old.URL)
		opts := []probe.Option{probe.WithRate(100), probe.WithMaxRequests(80), probe.WithTimeout(time.Second)}
		if follow {
			opts = append(opts, probe.WithResolver(func(context.Context) (string, error) { return at.Load().(string), nil }, 20*time.Millisecond))
		}
		p, err := probe.New(old.URL, opts...)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := p.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var n int
		byBackend := map[string]int{}
		failedLate := 0
		for r := range ch {
			n++
			if n == 20 { // the pod is replaced
				old.Close()
				at.Store(moved.URL)
			}
			byBackend[r.Backend]++
			if n > 60 && r.Outcome != probe.OK {
				failedLate++
			}
		}
		moved.Close()
		if follow && (byBackend["new"] == 0 || failedLate > 0) {
			t.Errorf("with a resolver: by backend %v, %d of the last 20 failed", byBackend, failedLate)
		}
		if !follow && (byBackend["new"] != 0 || failedLate != 20) {
			t.Errorf("without a resolver: by backend %v, %d of the last 20 failed", byBackend, failedLate)
		}
	}
}
