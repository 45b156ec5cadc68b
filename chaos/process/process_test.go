package process

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/chaostest"
	"github.com/aiuptime/aiuptime/internal/stacktest"
	"github.com/aiuptime/aiuptime/param"
)

func TestDecode(t *testing.T) {
	k, err := chaos.LookupKind(Kind)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		params map[string]any
		bad    string // the param an error names ("" for none)
	}{
		{"match and default signal", map[string]any{"match": "EngineCore"}, ""},
		{"term", map[string]any{"match": "^/bin/x", "signal": "TERM"}, ""},
		{"no match", nil, "match"},
		{"bad regexp", map[string]any{"match": "(engine"}, "match"},
		{"stop leaves it stopped", map[string]any{"match": "x", "signal": "STOP"}, "signal"},
		{"cont ends nothing", map[string]any{"match": "x", "signal": "SIGCONT"}, "signal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.Decode(tc.params)
			var pe *param.Error
			switch {
			case tc.bad == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.bad != "" && (!errors.As(err, &pe) || pe.Param != tc.bad):
				t.Fatalf("want an error naming %s, got %v", tc.bad, err)
			}
		})
	}
}

// Killing the engine core by command line, as a drill step would: the
// model server's /health turns 503, its supervisor restarts the engine, and
// a new engine process runs. A pattern matching nothing is refused and
// signals nothing.
func TestKillTheEngineOfTheEmbeddedStack(t *testing.T) {
	st := stacktest.OneModel(t)
	ctx := context.Background()
	svc, err := st.Service(ctx, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	j := chaostest.Journal(t)
	env := chaos.Env{Stack: st, Journal: j}

	none := chaostest.Plan(t, env, Kind, map[string]any{"match": "no-such-process"}, "model-0")
	if _, err := none.Inject(ctx); !errors.Is(err, ErrNoMatch) {
		t.Fatalf("a pattern matching nothing: want ErrNoMatch, got %v", err)
	}

	f := chaostest.Plan(t, env, Kind, map[string]any{"match": "EngineCore"}, "model-0")
	rev, err := f.Inject(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killed := f.Concrete().(*Fault).Signalled()
	if len(killed) != 1 || !strings.Contains(killed[0].Cmdline, "EngineCore") || killed[0].PID == 1 {
		t.Fatalf("signalled %+v, want the engine core only", killed)
	}
	stacktest.WaitHealth(t, svc.URL, 503, 10*time.Second)
	stacktest.WaitHealth(t, svc.URL, 200, 60*time.Second)
	if err := rev(ctx); err != nil {
		t.Fatal(err)
	}
	chaostest.JournalEmpty(t, j)
	ps, err := st.Processes(ctx, "model-0")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if strings.Contains(p.Cmdline, "EngineCore") && p.HostPID == killed[0].HostPID {
			t.Fatalf("the engine still runs as pid %d", p.HostPID)
		}
	}
}
