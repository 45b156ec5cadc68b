package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/rollout"
	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/endpoints"
	"github.com/aiuptime/aiuptime/units"
)

// podStack is a stack of plain endpoints whose services are pods of the
// Deployments in owner (the mapping under test reads only that).
type podStack struct {
	*endpoints.Stack
	owner map[string]string
}

func (p podStack) DeploymentOf(_ context.Context, service string) (string, error) {
	d, ok := p.owner[service]
	if !ok {
		return "", fmt.Errorf("service %s: no Deployment controls it: %w", service, stack.ErrNotFound)
	}
	return d, nil
}

func newPodStack(t *testing.T, owner map[string]string) podStack {
	t.Helper()
	var svcs []stack.Service
	for _, n := range []string{"gateway", "model-0", "model-1", "model-2", "model-3"} {
		r := stack.RoleModel
		if n == "gateway" {
			r = stack.RoleGateway
		}
		svcs = append(svcs, stack.Service{Name: n, Role: r, URL: "http://127.0.0.1:1"})
	}
	st, err := endpoints.New(svcs)
	if err != nil {
		t.Fatal(err)
	}
	return podStack{Stack: st, owner: owner}
}

func TestDeploymentTargets(t *testing.T) {
	st := newPodStack(t, map[string]string{"gateway": "gw", "model-0": "model-a", "model-1": "model-b", "model-2": "model-a", "model-3": "model-c"})
	for _, tc := range []struct {
		name    string
		targets []string
		want    []deploymentTarget
		err     string
	}{
		{"every model service, each Deployment once in order of first pod", nil, []deploymentTarget{
			{"model-a", stack.RoleModel, []string{"model-0", "model-2"}},
			{"model-b", stack.RoleModel, []string{"model-1"}},
			{"model-c", stack.RoleModel, []string{"model-3"}}}, ""},
		{"the plan's order", []string{"model-3", "model-2", "model-0"}, []deploymentTarget{
			{"model-c", stack.RoleModel, []string{"model-3"}},
			{"model-a", stack.RoleModel, []string{"model-2", "model-0"}}}, ""},
		{"not a model", []string{"gateway"}, nil, "has role gateway, want model"},
		{"unknown service", []string{"model-9"}, nil, "model-9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := deploymentTargets(t.Context(), st, st, tc.targets)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("targets (-want +got):\n%s", d)
			}
		})
	}
	orphan := newPodStack(t, map[string]string{"model-0": "model-a"})
	if _, err := deploymentTargets(t.Context(), orphan, orphan, []string{"model-1"}); !errors.Is(err, stack.ErrNotFound) {
		t.Errorf("a pod no Deployment controls: %v, want ErrNotFound", err)
	}
}

func stepParams(t *testing.T, action string, p map[string]any) param.Values {
	t.Helper()
	v, err := params(plan.Step{Action: action, Params: p})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDeploymentChange(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		action                  string
		params                  map[string]any
		image, args, surge, una string
		err                     string
	}{
		{"extra args appended, surge 1 and none unavailable by default", "rolling-update", map[string]any{"args": "--error-rate 0.5"}, "", "--error-rate 0.5", "1", "0", ""},
		{"image, surge and unavailability", "rolling-update", map[string]any{"image": "aiuptime/modelserver:v2", "max_surge": 2, "max_unavailable": 1}, "aiuptime/modelserver:v2", "", "2", "1", ""},
		{"surge and unavailability both 0", "rolling-update", map[string]any{"args": "-x", "max_surge": 0}, "", "", "", "", "not both 0"},
		{"nothing to change", "rolling-update", map[string]any{}, "", "", "", "", "give an image or args"},
		{"a model version alone", "model-update", map[string]any{"version": "1.1.0"}, "", "", "", "", "the model is in the image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := deploymentChange(stepParams(t, tc.action, tc.params), "run-1")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Image != tc.image || strings.Join(c.AppendArgs, " ") != tc.args || c.Args != nil || c.Run != "run-1" ||
				c.MaxSurge.String() != tc.surge || c.MaxUnavailable.String() != tc.una {
				t.Errorf("change %+v (surge %s, unavailable %s)", c, c.MaxSurge, c.MaxUnavailable)
			}
		})
	}
}

func TestKubeAnalysis(t *testing.T) {
	pct := func(f float64) *units.Percent { p := units.Percent(f); return &p }
	sloPlan := &plan.Plan{SLO: slo.Spec{ErrorRate: pct(0.01), LatencyP95: units.Duration(2 * time.Second)}}
	for _, tc := range []struct {
		name   string
		plan   *plan.Plan
		params map[string]any
		stats  rollout.Stats
		want   string
	}{
		{"default 5% holds", nil, nil, rollout.Stats{Total: 100, Failed: 4, ErrorRate: 0.04}, ""},
		{"default 5% breached", nil, nil, rollout.Stats{Total: 100, Failed: 48, ErrorRate: 0.48}, "error rate 48.0% > 5.0% (48 of 100 probe requests failed)"},
		{"the SLO's error rate", sloPlan, nil, rollout.Stats{Total: 100, Failed: 2, ErrorRate: 0.02}, "error rate 2.0% > 1.0%"},
		{"the step's bound over the SLO's", sloPlan, map[string]any{"max_error_rate": "10%"}, rollout.Stats{Total: 100, Failed: 2, ErrorRate: 0.02}, ""},
		{"the SLO's p95", sloPlan, nil, rollout.Stats{Total: 100, P95: 3 * time.Second}, "p95 latency 3s > 2s"},
		{"the step's p95", nil, map[string]any{"max_p95": "500ms"}, rollout.Stats{Total: 100, P95: 600 * time.Millisecond}, "p95 latency 600ms > 500ms"},
		{"too few samples judge nothing", nil, nil, rollout.Stats{Total: 9, Failed: 9, ErrorRate: 1}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newKubeAnalysis(&ActionEnv{Plan: tc.plan}, stepParams(t, "rolling-update", tc.params))
			err := a.judge(tc.stats)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("judge: %v, want none", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("judge: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestKubeAnalysisWindow feeds the check real probe results through the
// traffic log: only the last window counts, not before the rollout.
func TestKubeAnalysisWindow(t *testing.T) {
	tl := NewTrafficLog(0)
	env := &ActionEnv{Traffic: tl}
	a := newKubeAnalysis(env, stepParams(t, "rolling-update", map[string]any{"analysis_window": "1s"}))
	now := time.Now()
	add := func(at time.Time, n int, good bool) {
		for i := range n {
			tl.Add(probeResult(at.Add(time.Duration(i)*time.Millisecond), good))
		}
	}
	add(now.Add(-5*time.Second), 50, false) // before the rollout: not judged
	add(now.Add(-500*time.Millisecond), 20, true)
	golden := 0
	check := a.check(now.Add(-2*time.Second), func(context.Context) error { golden++; return nil })
	if err := check(t.Context(), "during"); err != nil || golden != 0 {
		t.Fatalf("healthy window: %v (golden asked %d times)", err, golden)
	}
	add(now.Add(-400*time.Millisecond), 20, false)
	if err := check(t.Context(), "after"); err == nil || !strings.Contains(err.Error(), "error rate 50.0%") {
		t.Fatalf("bad window: %v", err)
	}
}

func probeResult(at time.Time, good bool) probe.Result {
	r := probe.Result{Start: at, Latency: 10 * time.Millisecond, Outcome: probe.OK, Code: 200}
	if !good {
		r.Outcome, r.Code = probe.Error, 500
	}
	return r
}
