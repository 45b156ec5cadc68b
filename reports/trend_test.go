package reports

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// tofNoise is a deterministic ±2 % noise, one factor per run.
var tofNoise = []float64{+0.020, -0.015, +0.010, -0.020, +0.005, +0.018, -0.012, -0.004, +0.015, -0.019}

var tofT0 = time.Date(2026, 1, 5, 3, 0, 0, 0, time.UTC)

// tofHistory is n runs of plan "nightly", one every `every`, whose p95
// is p95(day) times (1 + noise); the other metrics stay as sampleReport's.
func tofHistory(n int, every time.Duration, p95 func(day float64) float64) []*Report {
	var runs []*Report
	for i := range n {
		r := sampleReport("x")
		r.Plan, r.Stack, r.RunID = "nightly", "docker ollama.yaml", "run-"+string(rune('a'+i))
		r.StartedAt = tofT0.Add(time.Duration(i) * every)
		day := r.StartedAt.Sub(tofT0).Hours() / 24
		r.Latency.P95 = p95(day) * (1 + tofNoise[i%len(tofNoise)])
		r.Window = &WindowCheck{Window: "sat 02:00-06:00 UTC", Inside: true}
		runs = append(runs, r)
	}
	return runs
}

func tofMetricOf(t *testing.T, tr *TrendReport, name string) *MetricTrend {
	t.Helper()
	for i := range tr.Metrics {
		if tr.Metrics[i].Metric == name {
			return &tr.Metrics[i]
		}
	}
	t.Fatalf("no metric %s in %+v", name, tr.Metrics)
	return nil
}

const tofWeek = 7 * 24 * time.Hour

// TestTrendOfPredictsTheCrossing is issue 19's done-when: ten weekly runs of
// a p95 that degrades linearly (with ±2 % noise) and a 2 s objective; the
// predicted time from the newest run to the crossing is within 10 % of the
// true one, with a confidence above 85 % and a high-priority suggestion.
func TestTrendOfPredictsTheCrossing(t *testing.T) {
	for _, c := range []struct {
		name        string
		base, slope float64 // p95 = base + slope·day, in seconds
	}{
		{"10 ms/day from 1 s", 1.0, 0.010},
		{"5 ms/day from 1 s", 1.0, 0.005},
		{"20 ms/day from 0.5 s", 0.5, 0.020},
	} {
		t.Run(c.name, func(t *testing.T) {
			runs := tofHistory(10, tofWeek, func(d float64) float64 { return c.base + c.slope*d })
			runs[0], runs[7] = runs[7], runs[0] // the order given must not matter
			tr, err := TrendOf(runs, TrendOptions{Thresholds: map[string]float64{MetricNameLatencyP95: 2}})
			if err != nil {
				t.Fatal(err)
			}
			m := tofMetricOf(t, tr, MetricNameLatencyP95)
			if m.Crossing == nil || m.Crossing.Crossed {
				t.Fatalf("p95 %+v: want a crossing ahead", m)
			}
			newest := tofT0.Add(9 * tofWeek)
			trueDays := (2-c.base)/c.slope - newest.Sub(tofT0).Hours()/24
			gotDays := m.Crossing.At.Sub(newest).Hours() / 24
			t.Logf("crossing in %.1f days after the newest run, true %.1f (%+.1f %%); slope %.2f ms/day [%.2f, %.2f]; confidence %.4f; R² %.3f",
				gotDays, trueDays, (gotDays/trueDays-1)*100, m.SlopePerDay*1000, m.SlopeLowPerDay*1000, m.SlopeHighPerDay*1000, m.Confidence, m.R2)
			if math.Abs(gotDays-trueDays) > 0.1*trueDays {
				t.Errorf("crossing in %.1f days, true %.1f: more than 10 %% off", gotDays, trueDays)
			}
			if m.Direction != TrendWorsening || m.Confidence <= MaintenanceHighPriority {
				t.Errorf("direction %s confidence %v, want worsening above %v", m.Direction, m.Confidence, MaintenanceHighPriority)
			}
			if m.Crossing.Latest == nil || m.Crossing.Earliest.After(m.Crossing.At) || m.Crossing.Latest.Before(m.Crossing.At) {
				t.Errorf("crossing interval %v .. %v around %v", m.Crossing.Earliest, m.Crossing.Latest, m.Crossing.At)
			}
			if m.SlopeLowPerDay > c.slope || m.SlopeHighPerDay < c.slope {
				t.Errorf("the %v interval [%v, %v] misses the true slope %v", tr.Level, m.SlopeLowPerDay, m.SlopeHighPerDay, c.slope)
			}
			if len(tr.Suggestions) != 1 {
				t.Fatalf("suggestions %+v, want one for latency_p95", tr.Suggestions)
			}
			s := tr.Suggestions[0]
			if s.Metric != MetricNameLatencyP95 || s.Priority != PriorityHigh || !s.Before.Equal(m.Crossing.Earliest) ||
				s.Window != "sat 02:00-06:00 UTC" || !strings.Contains(s.Reason, "latency_p95 rises") || !strings.Contains(s.Reason, m.Crossing.At.Format("2006-01-02")) {
				t.Errorf("suggestion %+v", s)
			}
		})
	}
}

// TestTrendOfFlatAndImproving: noise around a constant, or a p95 that gets
// better, is no reason for maintenance.
func TestTrendOfFlatAndImproving(t *testing.T) {
	for _, c := range []struct {
		name      string
		p95       func(float64) float64
		direction string
	}{
		{"flat noisy", func(float64) float64 { return 1.2 }, TrendFlat},
		{"improving", func(d float64) float64 { return 1.8 - 0.01*d }, TrendImproving},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := TrendOf(tofHistory(10, tofWeek, c.p95), TrendOptions{Thresholds: map[string]float64{MetricNameLatencyP95: 2}})
			if err != nil {
				t.Fatal(err)
			}
			m := tofMetricOf(t, tr, MetricNameLatencyP95)
			t.Logf("%s: slope %.2f ms/day, confidence %.3f, crossing %+v", c.name, m.SlopePerDay*1000, m.Confidence, m.Crossing)
			if m.Direction != c.direction || m.Confidence > MaintenanceScheduled || len(tr.Suggestions) != 0 {
				t.Errorf("direction %s confidence %v suggestions %+v", m.Direction, m.Confidence, tr.Suggestions)
			}
		})
	}
}

// TestTrendOfAlreadyCrossed: p95 = 1 s + 50 ms/day passes 2 s on day 20 of
// 63; the maintenance is due now.
func TestTrendOfAlreadyCrossed(t *testing.T) {
	now := tofT0.Add(10 * tofWeek)
	tr, err := TrendOf(tofHistory(10, tofWeek, func(d float64) float64 { return 1 + 0.05*d }),
		TrendOptions{Thresholds: map[string]float64{MetricNameLatencyP95: 2}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	m := tofMetricOf(t, tr, MetricNameLatencyP95)
	if m.Crossing == nil || !m.Crossing.Crossed || m.Crossing.At.Sub(tofT0.AddDate(0, 0, 20)).Abs() > 2*24*time.Hour {
		t.Fatalf("crossing %+v, want crossed around day 20", m.Crossing)
	}
	if len(tr.Suggestions) != 1 || !tr.Suggestions[0].Before.Equal(now) || tr.Suggestions[0].Priority != PriorityHigh {
		t.Errorf("suggestions %+v, want one high priority due now", tr.Suggestions)
	}
}

// TestTrendOfAvailabilityFalls: a higher-is-better metric crosses downward.
func TestTrendOfAvailabilityFalls(t *testing.T) {
	runs := tofHistory(8, tofWeek, func(float64) float64 { return 1 })
	for i, r := range runs {
		r.Availability.RequestBased = 0.9990 - 0.0001*float64(i*7) // 0.1 pp/tofWeek: reaches 0.99 on day 90
	}
	tr, err := TrendOf(runs, TrendOptions{Thresholds: map[string]float64{MetricNameAvailability: 0.99}})
	if err != nil {
		t.Fatal(err)
	}
	m := tofMetricOf(t, tr, MetricNameAvailability)
	if m.Direction != TrendWorsening || m.Crossing == nil || m.Crossing.At.Sub(tofT0.AddDate(0, 0, 90)).Abs() > time.Hour {
		t.Errorf("availability %+v crossing %+v, want worsening, crossing on day 90", m, m.Crossing)
	}
	if len(tr.Suggestions) != 1 || !strings.Contains(tr.Suggestions[0].Reason, "availability falls 0.010 pp/day") {
		t.Errorf("suggestions %+v", tr.Suggestions)
	}
}

// TestTrendOfRefuses: runs of two plans, too few runs and runs hours apart
// are refused, with the sentinel and the numbers found.
func TestTrendOfRefuses(t *testing.T) {
	flat := func(float64) float64 { return 1 }
	mixed := tofHistory(6, tofWeek, flat)
	for _, r := range mixed[3:] {
		r.Plan = "weekly"
	}
	for _, c := range []struct {
		name string
		runs []*Report
		o    TrendOptions
		want error
		says []string
	}{
		{"mixed plans", mixed, TrendOptions{}, ErrMixedPlans,
			[]string{`plan "nightly" on stack "docker ollama.yaml": 3 runs`, `plan "weekly" on stack "docker ollama.yaml": 3 runs`, "14.0 days", "one plan on one stack"}},
		{"three runs", tofHistory(3, tofWeek, flat), TrendOptions{}, ErrTooFewRuns,
			[]string{`plan "nightly"`, "3 runs", "minimum of 5"}},
		{"no runs", nil, TrendOptions{}, ErrTooFewRuns, []string{"no runs"}},
		{"two hours", tofHistory(10, 2*time.Hour/9, flat), TrendOptions{}, ErrShortSpan,
			[]string{"10 runs", "(2h0m)", "minimum of 7.0 days"}},
		{"min span lowered still too short", tofHistory(10, 2*time.Hour/9, flat), TrendOptions{MinSpan: 3 * time.Hour}, ErrShortSpan,
			[]string{"minimum of 3h0m"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := TrendOf(c.runs, c.o)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not say %q", err, s)
				}
			}
		})
	}
	if _, err := TrendOf(tofHistory(10, 2*time.Hour/9, flat), TrendOptions{MinSpan: time.Hour}); err != nil {
		t.Errorf("a lowered minimum span: %v", err)
	}
	for _, o := range []TrendOptions{{MinRuns: 2}, {Level: 1.5}, {MinSpan: -time.Hour}} {
		if _, err := TrendOf(tofHistory(10, tofWeek, flat), o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// TestTrendOfSkipsNotMeasured: a metric is fitted over the runs that
// measured it only (zeros of the others would drag TTFT down), and named
// skipped when too few did.
func TestTrendOfSkipsNotMeasured(t *testing.T) {
	runs := tofHistory(10, tofWeek, func(float64) float64 { return 1 })
	for i, r := range runs {
		if i%2 == 1 {
			r.TTFT = Quantiles{}
		}
		if i < 7 {
			r.Outages, r.MTTRSeconds = nil, nil
		}
	}
	dirs := map[*Report]string{runs[0]: "runs/a"}
	tr, err := TrendOf(runs, TrendOptions{Dirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	if tt := tofMetricOf(t, tr, MetricNameTTFTP95); tt.Skipped != "" || len(tt.Points) != 5 || tt.SlopePerDay != 0 {
		t.Errorf("ttft %+v, want 5 points and a flat fit", tt)
	}
	if m := tofMetricOf(t, tr, MetricNameMTTR); !strings.Contains(m.Skipped, "measured by 3 of 10 runs") || m.Method != "" {
		t.Errorf("mttr %+v, want skipped", m)
	}
	if tr.Runs[0].Dir != "runs/a" || tr.Runs[0].RunID != "run-a" || !tr.Now.Equal(tofT0.Add(9*tofWeek)) {
		t.Errorf("runs %+v now %v", tr.Runs, tr.Now)
	}
	md := tr.Markdown()
	for _, want := range []string{"Not fitted:", "- mttr: measured by 3 of 10 runs"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestTrendOfMarkdown(t *testing.T) {
	tr, err := TrendOf(tofHistory(10, tofWeek, func(d float64) float64 { return 1 + 0.01*d }),
		TrendOptions{Thresholds: map[string]float64{MetricNameLatencyP95: 2, MetricNameAvailability: 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	md := tr.Markdown()
	m := tofMetricOf(t, tr, MetricNameLatencyP95)
	for _, want := range []string{
		`# Trend of plan "nightly" on stack "docker ollama.yaml"`, "10 runs from 2026-01-05 to 2026-03-09 (63.0 days)",
		"| Metric | Runs | Latest (fit) | Slope/day (90% interval) | R² | Direction | Confidence | Threshold | Crossing |",
		"| latency_p95 | 10 |", "| worsening |", m.Crossing.At.Format("2006-01-02") + ", in ",
		"| availability | 10 |", "| flat |", "not heading there",
		"above 70%, with high priority above 85%", "- **high** latency_p95: before " + m.Crossing.Earliest.Format("2006-01-02"),
		"in the window sat 02:00-06:00 UTC",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
