package drill

import (
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/uptime"
)

func TestTrafficLogStatsByBackend(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tl := NewTrafficLog(8) // small: the oldest results are overwritten
	add := func(i int, backend string, ok bool, lat time.Duration) {
		o := probe.OK
		if !ok {
			o = probe.Error
		}
		tl.Add(probe.Result{Seq: uint64(i), Start: t0.Add(time.Duration(i) * time.Second), Latency: lat, Backend: backend, Outcome: o})
	}
	for i := range 4 { // dropped by the ring
		add(i, "old", false, time.Second)
	}
	add(4, "a", true, 10*time.Millisecond)
	add(5, "a", false, 20*time.Millisecond)
	add(6, "b", true, 30*time.Millisecond)
	add(7, "", false, 5*time.Second) // no backend: a failure the gateway did not attribute
	add(8, "b", true, 40*time.Millisecond)
	add(9, "a", true, 50*time.Millisecond)
	add(10, "b", true, 60*time.Millisecond)
	add(11, "a", true, 70*time.Millisecond)

	tests := []struct {
		name          string
		from, to      int
		backend       string
		unattributed  bool
		total, failed int
	}{
		{"all kept", 0, 20, "", false, 8, 2},
		{"backend a", 0, 20, "a", false, 4, 1},
		{"backend b with unattributed failures", 0, 20, "b", true, 4, 1},
		{"window excludes the end", 4, 6, "", false, 2, 1},
		{"overwritten results are gone", 0, 4, "", false, 0, 0},
		{"unknown backend", 0, 20, "zzz", false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := tl.Stats(t0.Add(time.Duration(tc.from)*time.Second), t0.Add(time.Duration(tc.to)*time.Second), tc.backend, tc.unattributed)
			if st.Total != tc.total || st.Failed != tc.failed {
				t.Errorf("got %d total, %d failed; want %d, %d", st.Total, st.Failed, tc.total, tc.failed)
			}
		})
	}
	if got := tl.Stats(t0, t0.Add(time.Minute), "a", false).P95; got != 70*time.Millisecond {
		t.Errorf("p95 of backend a = %v, want 70ms", got)
	}
}

func TestPlanSLOAndRulesMapping(t *testing.T) {
	p, err := plan.Parse("m.yaml", []byte(`name: m
slo: {availability: 99.5, error_rate: "1%", latency_p95: 2s, goodput: {ttft: 500ms, attainment: 90}}
monitoring: {window_scale: 0.0005, thresholds: {latency_p95: 5s, error_rate: 5%}}
steps:
  - name: s
    wait: 1s
`))
	if err != nil {
		t.Fatal(err)
	}
	spec := p.SLO
	if spec.Availability.Fraction() != 0.995 || spec.ErrorRate.Fraction() != 0.01 || spec.LatencyP95.D() != 2*time.Second {
		t.Errorf("slo spec %+v", spec)
	}
	if spec.Goodput == nil || spec.Goodput.TTFT.D() != 500*time.Millisecond || spec.Goodput.Attainment.Fraction() != 0.9 {
		t.Errorf("goodput %+v", spec.Goodput)
	}
	rs := rulesSpec(p)
	if rs.Scale != 2000 { // a multiplier of 0.0005 divides windows by 2000
		t.Errorf("scale %v, want 2000", rs.Scale)
	}
	pc, threshold, ok := rs.SLO.LatencyObjective()
	if rs.Name != "m" || rs.SLO.ErrorBudget() > 0.0051 || rs.SLO.ErrorBudget() < 0.0049 || !ok || threshold != 2*time.Second || pc != 0.95 {
		t.Errorf("rules SLO %+v", rs.SLO)
	}
	if rs.Thresholds.LatencyP95 != 5*time.Second || rs.Thresholds.ErrorRate != 0.05 {
		t.Errorf("thresholds %+v", rs.Thresholds)
	}
}

func TestLastFaultBefore(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	evs := []uptime.Event{
		{At: t0, Kind: uptime.StepStarted, Step: "steady"},
		{At: t0.Add(10 * time.Second), Kind: uptime.FaultInjected, Step: "kill"},
		{At: t0.Add(20 * time.Second), Kind: uptime.ActionStarted, Step: "canary"},
		{At: t0.Add(30 * time.Second), Kind: uptime.FaultInjected, Step: "later"},
	}
	tests := []struct {
		at   time.Duration
		want string
		ok   bool
	}{
		{5 * time.Second, "", false},
		{10 * time.Second, "kill", true},
		{25 * time.Second, "canary", true},
		{40 * time.Second, "later", true},
	}
	for _, tc := range tests {
		e, ok := lastFaultBefore(evs, t0.Add(tc.at))
		if ok != tc.ok || e.Step != tc.want {
			t.Errorf("at +%v: got %q %v, want %q %v", tc.at, e.Step, ok, tc.want, tc.ok)
		}
	}
}
