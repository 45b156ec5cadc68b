package reports

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestPromRequestsAddUp reads drill.prom of a report from a real quarterly
// DR run and of the sample report (errors and timeouts) the way PromQL's
// sum() would: the outcome series add up to the total, the non-ok ones to
// the failed count, and no series of the total carries an outcome.
func TestPromRequestsAddUp(t *testing.T) {
	real, err := Load(filepath.Join("testdata", "quarterly-dr.json"))
	if err != nil {
		t.Fatal(err)
	}
	legacy := sampleReport("sk-x")
	legacy.Requests.ByOutcome["all"] = legacy.Requests.Total // a report written before the split
	for _, tc := range []struct {
		name string
		r    *Report
	}{
		{"real quarterly-dr run", real},
		{"sample with errors and timeouts", sampleReport("sk-x")},
		{"report with the old all key", legacy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Prom(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			p := expfmt.NewTextParser(model.LegacyValidation)
			fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("drill.prom does not parse: %v", err)
			}
			sum := func(name string, keep func(outcome string) bool) (total float64) {
				for _, m := range fams[name].GetMetric() {
					outcome := ""
					for _, l := range m.GetLabel() {
						if l.GetName() == "outcome" {
							outcome = l.GetValue()
						}
					}
					if keep(outcome) {
						total += m.GetGauge().GetValue()
					}
				}
				return total
			}
			all := func(string) bool { return true }
			total := sum(MetricRequests, all)
			if total != float64(tc.r.Requests.Total) || total == 0 {
				t.Errorf("sum(%s) = %v, want %d (> 0)", MetricRequests, total, tc.r.Requests.Total)
			}
			if withOutcome := sum(MetricRequests, func(o string) bool { return o != "" }); withOutcome != 0 {
				t.Errorf("%s has outcome-labelled series worth %v", MetricRequests, withOutcome)
			}
			if got := sum(MetricRequestOutcomes, all); got != total {
				t.Errorf("sum(%s) = %v, want the total %v", MetricRequestOutcomes, got, total)
			}
			failed := sum(MetricFailedRequests, all)
			if got := sum(MetricRequestOutcomes, func(o string) bool { return o != "ok" }); got != failed || failed != float64(tc.r.Requests.Failed) {
				t.Errorf("non-ok outcomes %v, %s %v, report %d: want all equal", got, MetricFailedRequests, failed, tc.r.Requests.Failed)
			}
		})
	}
}

// TestPromPassesPromtoolLint runs `promtool check metrics` (Prometheus's
// naming and help lint) on the sample's drill.prom.
func TestPromPassesPromtoolLint(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus): naming lint not run")
	}
	b, err := Prom(sampleReport("sk-x"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(b)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
