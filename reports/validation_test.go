package reports

import (
	"strings"
	"testing"
	"time"
)

func validationReport() *Report {
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	f := func(v float64) *float64 { return &v }
	detail := "latency_p95 20ms -> 340ms (+1600.0%), beyond the 25% tolerance and the 50ms floor"
	return &Report{Plan: "emergency-patch", Verdict: VerdictFail, StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		Steps: []Step{
			{Name: "steady state", Kind: "wait", StartedAt: t0, FinishedAt: t0.Add(10 * time.Second), Status: StatusPassed},
			{Name: "validate", Kind: "action:validate", StartedAt: t0.Add(50 * time.Second), FinishedAt: t0.Add(time.Minute), Status: StatusFailed, Error: "regression: " + detail},
		},
		Rollouts: []Rollout{{Kind: "rolling-update", Target: "model-0,model-1", Decision: "rolled-back",
			Backup: &BackupRef{Dir: "/state/backups/b1", TakenAt: t0.Add(11 * time.Second), Files: 7, Bytes: 4096, Seconds: 0.4, Verified: true,
				Restored: &BackupRestore{Parts: []string{"models", "config"}, Changed: []string{"models-model-0/weights.bin"}, Seconds: 2.5}}}},
		Validations: []Validation{{Step: "validate", Baseline: "steady state", After: "steady state after the patch",
			Checks: []ValidationCheck{{Name: "every service healthy", Passed: true, Detail: "every service healthy and in rotation"}},
			Comparison: []ComparisonRow{
				{Metric: MetricNameLatencyP95, Unit: "seconds", Baseline: f(0.02), After: f(0.34), ChangePct: f(1600), TolerancePct: 25, Floor: 0.05, Verdict: ComparisonRegression, Detail: detail},
				{Metric: MetricNameTTFTP95, Unit: "seconds", TolerancePct: 25, Floor: 0.05, Verdict: ComparisonNotMeasured, Detail: "baseline window: no successful streamed request"},
			}}},
	}
}

// TestJUnitFailedValidation: a validate step failed on a regression is a
// failed testcase whose message names the metric, both values and the
// tolerance; the comparison is in the suite's properties.
func TestJUnitFailedValidation(t *testing.T) {
	r := validationReport()
	s := JUnitOf(r).Suites[0]
	var c *JUnitCase
	for i := range s.Cases {
		if s.Cases[i].Name == "step: validate" {
			c = &s.Cases[i]
		}
	}
	if c == nil || c.Failure == nil || c.Failure.Message != r.Steps[1].Error || c.Failure.Type != "deviation" {
		t.Fatalf("validate testcase %+v", c)
	}
	if s.Failures != 1 {
		t.Errorf("%d failures, want 1", s.Failures)
	}
	props := map[string]string{}
	for _, p := range s.Properties {
		props[p.Name] = p.Value
	}
	if props["validation.validate.passed"] != "false" || props["validation.validate.latency_p95"] != "0.02 -> 0.34 (regression)" ||
		props["validation.validate.ttft_p95"] != NotMeasured {
		t.Errorf("properties %v", props)
	}
}

func TestRenderValidations(t *testing.T) {
	r := validationReport()
	md, err := Markdown(r)
	if err != nil {
		t.Fatal(err)
	}
	h, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Backups before updates", "| rolling-update | model-0,model-1 | /state/backups/b1 |", "restored models and config: 1 file put back (models-model-0/weights.bin)",
		"## Validation after the update: functional checks", "| validate | every service healthy | passed |",
		"| validate | latency_p95 | 20.0 ms | 340.0 ms | +1600.0% | 25% | 50.0 ms | regression: latency_p95 20ms -&gt; 340ms (+1600.0%), beyond the 25% tolerance and the 50ms floor |",
		"| validate | ttft_p95 | not measured | not measured | - | 25% | 50.0 ms | not measured: baseline window: no successful streamed request |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, want := range []string{"<h2>Validation after the update: performance against the baseline</h2>", "<td>340.0 ms</td>", "<h2>Backups before updates</h2>"} {
		if !strings.Contains(string(h), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}
