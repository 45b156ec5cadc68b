package container

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/internal/stacktest"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/containers"
)

func waitUp(t *testing.T, st stack.Stack, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		svc, err := st.Service(context.Background(), name)
		if err == nil && stacktest.Health(svc.URL) == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never came up", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Every lifecycle kind on a real model server of the embedded stack: the
// fault acts, its revert brings the service back to running (recreated
// the same after a remove), and the journal is empty again.
func TestLifecycleFaultsOnTheEmbeddedStack(t *testing.T) {
	st := stacktest.OneModel(t)
	ctx := context.Background()
	for _, kind := range []string{KindKill, KindStop, KindPause, KindRestart, KindRemove} {
		t.Run(kind, func(t *testing.T) {
			j := chaostest.Journal(t)
			params := map[string]any{}
			if kind == KindStop || kind == KindRestart {
				params["timeout"] = "1s"
			}
			f := chaostest.Plan(t, chaos.Env{Stack: st, Journal: j}, kind, params, "model-0")
			before, _ := st.Service(ctx, "model-0")
			start := time.Now()
			rev, err := f.Inject(ctx)
			if err != nil {
				t.Fatal(err)
			}
			injected := time.Since(start)
			rs, rerr := st.RunState(ctx, "model-0")
			switch kind {
			case KindKill, KindStop:
				if rerr != nil || rs.Running {
					t.Fatalf("still running after %s: %+v %v", kind, rs, rerr)
				}
			case KindPause:
				if !rs.Paused || stacktest.Health(before.URL) == 200 {
					t.Fatalf("not paused: %+v", rs)
				}
			case KindRemove:
				if rerr == nil {
					t.Fatalf("not removed: %+v", rs)
				}
			}
			start = time.Now()
			if err := rev(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: inject %v, revert %v", kind, injected, time.Since(start))
			chaostest.JournalEmpty(t, j)
			waitUp(t, st, "model-0")
			if err := st.Owns(ctx, "model-0"); err != nil {
				t.Fatalf("after the revert the run's label is lost: %v", err)
			}
		})
	}
}

// A stack that cannot prove it owns a service gets nothing done to it.
func TestRefusesWithoutOwnershipProof(t *testing.T) {
	st := stacktest.OneModel(t)
	f := chaostest.Plan(t, chaos.Env{Stack: notOwner{st}}, KindStop, nil, "model-0")
	if _, err := f.Inject(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot prove") {
		t.Fatalf("want a refusal, got %v", err)
	}
	if rs, _ := st.RunState(context.Background(), "model-0"); !rs.Running {
		t.Fatal("the refused fault stopped the container")
	}
}

// notOwner is the embedded stack seen through only its core and lifecycle
// capability (no ownership proof).
type notOwner struct{ s *containers.Stack }

func (n notOwner) Kind() string  { return n.s.Kind() }
func (n notOwner) RunID() string { return n.s.RunID() }
func (n notOwner) Services(ctx context.Context) ([]stack.Service, error) {
	return n.s.Services(ctx)
}
func (n notOwner) Service(ctx context.Context, name string) (stack.Service, error) {
	return n.s.Service(ctx, name)
}
func (n notOwner) APIKey() string             { return "" }
func (n notOwner) ModelName() string          { return n.s.ModelName() }
func (n notOwner) Stop(context.Context) error { return nil }
func (n notOwner) Act(ctx context.Context, svc string, a stack.Action) error {
	return n.s.Act(ctx, svc, a)
}
func (n notOwner) RunState(ctx context.Context, svc string) (stack.RunState, error) {
	return n.s.RunState(ctx, svc)
}
func (n notOwner) UndoOf(ctx context.Context, svc string, a stack.Action) (stack.Undo, error) {
	return n.s.UndoOf(ctx, svc, a)
}
