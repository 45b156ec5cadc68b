package drill

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/reports"
)

// openSLOFile holds an availability SLO, a latency SLO through an SLI it
// names with indicatorRef (%s is its value in seconds) and an SLO on GPU
// memory that the drill cannot measure.
const openSLOFile = `apiVersion: openslo/v1
kind: SLO
metadata: {name: avail}
spec:
  service: gateway
  indicator:
    metadata: {name: good}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: ok_total}}}
        total: {metricSource: {type: Prometheus, spec: {query: all_total}}}
  budgetingMethod: Occurrences
  objectives: [{target: 0.9}]
---
apiVersion: openslo/v1
kind: SLI
metadata: {name: latency}
spec:
  thresholdMetric: {metricSource: {type: Prometheus, spec: {query: p95_seconds}}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: fast}
spec:
  service: gateway
  indicatorRef: latency
  budgetingMethod: Occurrences
  objectives: [{op: lte, value: %s, target: 0.95}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: gpu-headroom}
spec:
  service: gateway
  indicator: {spec: {thresholdMetric: {metricSource: {type: Prometheus, spec: {query: min(DCGM_FI_DEV_FB_FREE)}}}}}
  budgetingMethod: Occurrences
  objectives: [{op: gte, value: 2048, target: 0.99}]
`

const openSLOPlan = `name: openslo
probe: {mode: health, interval: 20ms, target: gateway}
service_probes: {mode: off}
slo: {openslo: slos.yaml}
steps:
  - name: steady
    wait: 1s
`

// TestDrillJudgedByOpenSLO runs a real drill (probe, analysis, reports) on
// real loopback servers whose SLOs come only from an OpenSLO file: a
// latency objective no HTTP request can meet (1 µs) fails the verdict, a
// lenient one (30 s) passes it, and the GPU objective is reported as not
// evaluated, a skipped JUnit case, in neither verdict.
func TestDrillJudgedByOpenSLO(t *testing.T) {
	for _, c := range []struct {
		name, value string
		verdict     reports.Verdict
	}{
		{"unreachable latency", "0.000001", reports.VerdictFail},
		{"lenient latency", "30", reports.VerdictPass},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name, body string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			write("slos.yaml", strings.Replace(openSLOFile, "%s", c.value, 1))
			p, err := plan.LoadFile(write("plan.yaml", openSLOPlan))
			if err != nil {
				t.Fatal(err)
			}
			st, _ := threeReplicas(t)
			r, err := NewRunner(p, st, WithStateDir(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := r.Run(ctx)
			if rep == nil {
				t.Fatalf("run: %v", err)
			}
			if rep.Verdict != c.verdict {
				t.Fatalf("verdict %s (%s), want %s; err %v", rep.Verdict, rep.VerdictReason, c.verdict, err)
			}
			got := map[string]reports.SLOResult{}
			for _, s := range rep.SLO {
				got[s.Name] = s
			}
			if len(got) != 3 || !got["avail"].Compliant || got["fast"].Kind != "latency" {
				t.Fatalf("SLO results %+v, want avail (met), fast (latency) and gpu-headroom", rep.SLO)
			}
			if got["fast"].Compliant != (c.verdict == reports.VerdictPass) {
				t.Errorf("fast: %s", reports.SLOStatement(got["fast"]))
			}
			if c.verdict == reports.VerdictFail && !strings.Contains(rep.VerdictReason, "fast") {
				t.Errorf("verdict reason %q does not name the latency SLO", rep.VerdictReason)
			}
			gpu := got["gpu-headroom"]
			if !gpu.NotEvaluated || !strings.HasPrefix(gpu.Detail, "not evaluated: ") || strings.Contains(rep.VerdictReason, "gpu") {
				t.Errorf("gpu-headroom %+v, reason %q: want not evaluated and out of the verdict", gpu, rep.VerdictReason)
			}
			for _, tc := range reports.JUnitOf(rep).Suites[0].Cases {
				if tc.Name == "slo: gpu-headroom" && (tc.Skipped == nil || !strings.Contains(tc.Skipped.Message, "not evaluated")) {
					t.Errorf("JUnit case for gpu-headroom %+v: want skipped, not evaluated", tc)
				}
			}
		})
	}
}
