package drill

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/backup"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/endpoints"
)

// chatServer is a real OpenAI-compatible server on 127.0.0.1: /health
// answers 200, /v1/chat/completions answers with the current answer.
type chatServer struct {
	*httptest.Server
	answer atomic.Value // string
	status atomic.Int64 // of completions; 0: 200
	refuse atomic.Value // string: a prompt answered with 502
}

func newChatServer(t *testing.T, answer string) *chatServer {
	c := &chatServer{}
	c.answer.Store(answer)
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			w.WriteHeader(http.StatusOK)
			return
		}
		if code := c.status.Load(); code != 0 {
			http.Error(w, `{"error":{"message":"down"}}`, int(code))
			return
		}
		var req struct {
			Model    string `json:"model"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		if p, _ := c.refuse.Load().(string); p != "" && len(req.Messages) > 0 && req.Messages[0].Content == p {
			http.Error(w, `{"error":{"message":"this prompt fails"}}`, http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "c1", "object": "chat.completion", "created": 1, "model": req.Model,
			"choices": []map[string]any{{"index": 0, "finish_reason": "stop", "message": map[string]string{"role": "assistant", "content": c.answer.Load().(string)}}}})
	}))
	t.Cleanup(c.Close)
	return c
}

// chatStack is a gateway and one model replica, each a chatServer.
func chatStack(t *testing.T) (stack.Stack, *chatServer, *chatServer) {
	gw, model := newChatServer(t, "hello from the gateway"), newChatServer(t, "the window is sunday night")
	st, err := endpoints.New([]stack.Service{
		{Name: "gateway", Role: stack.RoleGateway, URL: gw.URL, HealthPath: "/health"},
		{Name: "model-0", Role: stack.RoleModel, URL: model.URL, HealthPath: "/health", ModelName: "m"},
	}, endpoints.WithModelName("m"), endpoints.WithAPIKey("sk-test"))
	if err != nil {
		t.Fatal(err)
	}
	return st, gw, model
}

// validateEnv is an action env whose traffic log holds a baseline step
// (p95 20ms) and an after step whose successful requests take afterLat.
func validateEnv(t *testing.T, st stack.Stack, afterLat time.Duration) *ActionEnv {
	t0 := time.Now().Add(-time.Minute)
	env := &ActionEnv{Stack: st, Log: slog.New(slog.DiscardHandler), Traffic: NewTrafficLog(0), Shared: &sync.Map{}, StateDir: t.TempDir()}
	fill := func(name string, from time.Time, lat time.Duration) {
		for i := range 200 {
			env.Traffic.Add(probe.Result{Start: from.Add(time.Duration(i) * 50 * time.Millisecond), Latency: lat + time.Duration(i%10)*time.Millisecond, Outcome: probe.OK})
		}
		storeStepWindow(env.Shared, stepRecord{step: plan.Step{Name: name}, start: from, end: from.Add(10 * time.Second), status: reports.StatusPassed})
	}
	fill("steady state", t0, 10*time.Millisecond)
	fill("steady state after", t0.Add(20*time.Second), afterLat)
	return env
}

func validateStep(extra map[string]any) plan.Step {
	p := map[string]any{"baseline": "steady state", "after": "steady state after"}
	for k, v := range extra {
		p[k] = v
	}
	return plan.Step{Name: "validate", Action: "validate", Params: p}
}

// TestValidateAction runs the validate action against real servers: the
// functional checks ask them, the comparison reads the probe's traffic of
// two earlier steps.
func TestValidateAction(t *testing.T) {
	tests := []struct {
		name     string
		afterLat time.Duration
		setup    func(t *testing.T, env *ActionEnv, gw, model *chatServer)
		params   map[string]any
		failed   bool
		detail   string
	}{
		{name: "as before", afterLat: 12 * time.Millisecond, detail: "validation passed: 3 functional checks, 4 metrics within tolerance of \"steady state\" (1 not measured)"},
		{name: "slower under the floor", afterLat: 40 * time.Millisecond, detail: "validation passed"},
		{name: "latency regression", afterLat: 320 * time.Millisecond, failed: true,
			detail: "regression: latency_p50 14ms -> 324ms (+2214.3%), beyond the 25% tolerance and the 50ms floor; regression: latency_p95 19ms -> 329ms"},
		{name: "a higher floor", afterLat: 320 * time.Millisecond, params: map[string]any{"min_delta": "500ms"}, detail: "validation passed"},
		{name: "gateway completion fails", afterLat: 10 * time.Millisecond, failed: true, detail: "chat completion through the gateway failed:",
			setup: func(_ *testing.T, _ *ActionEnv, gw, _ *chatServer) { gw.status.Store(http.StatusInternalServerError) }},
		{name: "golden answer changed", afterLat: 10 * time.Millisecond, failed: true, detail: `golden prompt failed: model-0 answers "a new answer", recorded "the window is sunday night"`,
			setup: func(t *testing.T, env *ActionEnv, _, model *chatServer) {
				recordGolden(t, env)
				model.answer.Store("a new answer")
			}},
		{name: "golden answer changed with the model version", afterLat: 10 * time.Millisecond, detail: "validation passed",
			setup: func(t *testing.T, env *ActionEnv, _, model *chatServer) {
				recordGolden(t, env)
				model.answer.Store("a new answer")
				env.Shared.Store(SharedModelVersion, "1.1.0")
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, gw, model := chatStack(t)
			env := validateEnv(t, st, tc.afterLat)
			if tc.setup != nil {
				tc.setup(t, env, gw, model)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := actValidate(ctx, env, validateStep(tc.params))
			if err != nil {
				t.Fatal(err)
			}
			if out.Failed != tc.failed || !strings.Contains(out.Detail, tc.detail) {
				t.Errorf("failed %t detail %q; want failed %t, detail containing %q", out.Failed, out.Detail, tc.failed, tc.detail)
			}
			v := out.Validation
			if v == nil || v.Passed == tc.failed || len(v.Checks) != 3 || len(v.Comparison) != 5 {
				t.Fatalf("validation %+v", v)
			}
			if ttft := v.Comparison[2]; ttft.Metric != reports.MetricNameTTFTP95 || ttft.Verdict != reports.ComparisonNotMeasured {
				t.Errorf("TTFT without streamed requests: %+v", ttft)
			}
		})
	}
}

// recordGolden takes a backup of the stack (its golden answers) as the
// backup before the update.
func recordGolden(t *testing.T, env *ActionEnv) {
	dir := filepath.Join(t.TempDir(), "b")
	if _, err := backup.BackupStack(context.Background(), dir, env.Stack); err != nil {
		t.Fatal(err)
	}
	env.Shared.Store(SharedUpdateBackup, dir)
}

// TestValidateNeedsTheBaselineToHaveRun: a baseline that did not run in
// this drill is an error, not a silent pass.
func TestValidateNeedsTheBaselineToHaveRun(t *testing.T) {
	st, _, _ := chatStack(t)
	env := validateEnv(t, st, 10*time.Millisecond)
	_, err := actValidate(context.Background(), env, validateStep(map[string]any{"baseline": "never ran"}))
	if err == nil || !strings.Contains(err.Error(), `params.baseline: step "never ran" has not run`) {
		t.Errorf("err %v", err)
	}
}

const validatePlan = `name: validate-run
probe: {mode: chat, interval: 20ms, target: gateway, stream_every: 0, timeout: 1s}
service_probes: {mode: off}
steps:
  - name: steady state
    wait: 1s
  - name: after the update
    wait: 1s
  - name: validate
    action: validate
    params: {baseline: steady state, after: after the update, min_samples: 10}
`

// TestValidateInARun: a run's validate step fills the report's
// validations, and its JUnit testcase fails with the failed check when
// the gateway answers the probe but not a real prompt.
func TestValidateInARun(t *testing.T) {
	for _, tc := range []struct {
		name        string
		failPrompts bool
		failure     string
	}{
		{"passes", false, ""},
		{"a real prompt fails", true, "chat completion through the gateway failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, gw, _ := chatStack(t)
			if tc.failPrompts {
				gw.refuse.Store(ValidationPrompt)
			}
			p, err := plan.Parse("validate-run.yaml", []byte(validatePlan))
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewRunner(p, st, WithStateDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, _ := r.Run(ctx)
			if rep == nil || len(rep.Validations) != 1 {
				t.Fatalf("report validations: %+v", rep)
			}
			v := rep.Validations[0]
			if v.Step != "validate" || v.Baseline != "steady state" || v.After != "after the update" || v.Passed != (tc.failure == "") {
				t.Errorf("validation %+v", v)
			}
			for _, row := range v.Comparison {
				if row.Metric == reports.MetricNameLatencyP50 && (row.Baseline == nil || row.After == nil) {
					t.Errorf("p50 not measured over a second of 20ms probes: %+v", row)
				}
			}
			var tcase *reports.JUnitCase
			for _, c := range reports.JUnitOf(rep).Suites[0].Cases {
				if c.Name == "step: validate" {
					tcase = &c
				}
			}
			switch {
			case tcase == nil:
				t.Fatal("no JUnit testcase for the validate step")
			case tc.failure == "" && tcase.Failure != nil:
				t.Errorf("validate failed: %s", tcase.Failure.Message)
			case tc.failure != "" && (tcase.Failure == nil || !strings.Contains(tcase.Failure.Message, tc.failure)):
				t.Errorf("testcase %+v, want a failure containing %q", tcase, tc.failure)
			}
		})
	}
}
