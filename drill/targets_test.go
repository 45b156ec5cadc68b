package drill

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/endpoints"
)

// healthServer is a real HTTP server on 127.0.0.1 answering 200 to
// everything and counting the health checks it gets.
type healthServer struct {
	*httptest.Server
	checks atomic.Int64
}

func newHealthServer(t *testing.T) *healthServer {
	h := &healthServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/health") {
			h.checks.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.Close)
	return h
}

// threeReplicas is a stack of plain URLs: a gateway and model-0..2, each a
// real server.
func threeReplicas(t *testing.T) (stack.Stack, map[string]*healthServer) {
	srv := map[string]*healthServer{}
	svcs := []stack.Service{}
	for _, n := range []string{"gateway", "model-0", "model-1", "model-2"} {
		srv[n] = newHealthServer(t)
		role := stack.RoleModel
		if n == "gateway" {
			role = stack.RoleGateway
		}
		svcs = append(svcs, stack.Service{Name: n, Role: role, URL: srv[n].URL})
	}
	st, err := endpoints.New(svcs)
	if err != nil {
		t.Fatal(err)
	}
	return st, srv
}

// countOnePlan turns the service probes off: they check every replica's
// health by design, and this test counts the checks the step made.
const countOnePlan = `name: count-one
probe: {mode: health, interval: 20ms, target: gateway}
service_probes: {mode: off}
steps:
  - name: one replica healthy
    await: healthy
    target: {role: model, count: 1}
    timeout: 5s
  - name: settle
    wait: 50ms
`

// TestCountOneActsOnOne: a step of {role: model, count: 1} resolves once,
// with the run's seed, to one replica; the await's health checks reach
// that replica only, a fault of the step is planned on it only, and the
// report and JUnit record it with the seed.
func TestCountOneActsOnOne(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			st, srv := threeReplicas(t)
			p, err := plan.Parse("count-one.yaml", []byte(countOnePlan))
			if err != nil {
				t.Fatal(err)
			}
			p.Seed = &seed
			want, err := p.Steps[0].Target.Pick(shapeServices(t, st), seed, p.Steps[0].Name)
			if err != nil || len(want) != 1 {
				t.Fatalf("pick: %v %v", want, err)
			}
			r, err := NewRunner(p, st, WithStateDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := r.Run(ctx)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			for _, n := range []string{"model-0", "model-1", "model-2"} {
				if got := srv[n].checks.Load(); (got > 0) != (n == want[0]) {
					t.Errorf("%s got %d health checks; only %s was the target", n, got, want[0])
				}
			}
			if rep.Seed == nil || *rep.Seed != seed {
				t.Errorf("report seed %v, want %d", rep.Seed, seed)
			}
			s := rep.Steps[0]
			if !cmp.Equal(s.Targets, want) || s.Target != want[0]+" (1 of role model)" {
				t.Errorf("report step: targets %v target %q, want %v", s.Targets, s.Target, want)
			}
			props := map[string]string{}
			for _, pr := range reports.JUnitOf(rep).Suites[0].Properties {
				props[pr.Name] = pr.Value
			}
			if props["seed"] != fmt.Sprint(seed) || props["step.one replica healthy.targets"] != want[0] {
				t.Errorf("junit properties: seed %q, targets %q", props["seed"], props["step.one replica healthy.targets"])
			}
			// A fault of the step is planned on the resolved replica alone.
			fault := plan.Step{Name: p.Steps[0].Name, Fault: "container-pause", Target: p.Steps[0].Target}
			fs, err := r.planFaults(ctx, fault, chaos.Env{Stack: st})
			if err != nil || len(fs) != 1 || fs[0].Target() != want[0] {
				t.Fatalf("planned %v (%v), want one fault on %s", fs, err, want[0])
			}
		})
	}
}

// TestRunChoosesAndRecordsSeed: without a seed the run chooses one, uses
// it and records it; the same seed chooses the same replica again.
func TestRunChoosesAndRecordsSeed(t *testing.T) {
	st, _ := threeReplicas(t)
	p, err := plan.Parse("count-one.yaml", []byte(countOnePlan))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner(p, st, WithStateDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(context.Background())
	if err != nil || rep.Seed == nil {
		t.Fatalf("run: %v, seed %v", err, rep.Seed)
	}
	again, _ := p.Steps[0].Target.Pick(shapeServices(t, st), *rep.Seed, p.Steps[0].Name)
	if !slices.Equal(again, rep.Steps[0].Targets) {
		t.Errorf("seed %d picks %v, the run picked %v", *rep.Seed, again, rep.Steps[0].Targets)
	}
}

func shapeServices(t *testing.T, st stack.Stack) []stack.ShapeService {
	sh, err := ShapeOf(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return sh.Services
}
