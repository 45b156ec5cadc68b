package drill

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/internal/runlock"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/endpoints"
)

// attached is an endpoints stack that says it is a compose project, as an
// attached deployment does: what the run lock needs of a stack.
type attached struct{ *endpoints.Stack }

func (attached) Identity() stack.Identity {
	return stack.Identity{Key: "compose-shop", Labels: map[string]string{"com.docker.compose.project": "shop"}, Text: "compose project shop"}
}

// TestSecondDrillOnOneStackRefused: while a drill holds a stack, a second
// drill on it is refused with exit 2, naming the holder, before anything
// starts (its probe target does not even exist: starting would be exit 3).
func TestSecondDrillOnOneStackRefused(t *testing.T) {
	state := t.TempDir()
	first, err := runlock.Acquire(state, "compose-shop", runlock.Holder{Stack: "compose project shop", Run: "d0first", Plan: "quarterly-dr"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	// The gateway answers its health check and then only 503: a drill that
	// starts talks to it (and fails); a refused one never does.
	var hits atomic.Int64
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/" {
			return // health
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer gw.Close()
	ep, err := endpoints.New([]stack.Service{{Name: "gateway", Role: stack.RoleGateway, URL: gw.URL, HealthPath: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Parse("p.yaml", []byte("name: second\nsteps:\n  - name: s\n    wait: 1s\n"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(p, attached{ep}, WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = r.Run(context.Background())
	took := time.Since(start)
	if !errors.Is(err, runlock.ErrHeld) || exitcode.Of(err, 0) != exitcode.Usage {
		t.Fatalf("second drill: %v (exit %d), want ErrHeld with exit 2", err, exitcode.Of(err, 0))
	}
	for _, want := range []string{"compose project shop", "pid " + strconv.Itoa(os.Getpid()), "run d0first", "plan quarterly-dr", "since "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not name %q", err, want)
		}
	}
	t.Logf("refused in %s", took)
	if hits.Load() != 0 {
		t.Fatalf("the refused drill sent %d requests", hits.Load())
	}

	first.Release()
	if _, err := r.Run(context.Background()); errors.Is(err, runlock.ErrHeld) || hits.Load() == 0 {
		t.Fatalf("after the first drill ended the second one must start (and fail on the 503 gateway): %v", err)
	}
	if ls, _ := runlock.List(state); len(ls) != 0 {
		t.Fatalf("lock files left after the drill: %+v", ls)
	}
}
