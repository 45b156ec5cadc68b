package slo_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/uptime"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

const step = 20 * time.Millisecond

// run60 is 60 s of probing at 20 ms (3000 requests of 100 ms) with errors in
// [10 s, 14 s): 200 failures, 99.333 % availability.
func run60(t *testing.T, opts ...uptime.Option) *uptime.Analysis {
	t.Helper()
	a, err := uptime.NewAnalyzer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		r := probe.Result{Seq: uint64(i), Start: t0.Add(time.Duration(i) * step), Latency: 100 * time.Millisecond, Outcome: probe.OK}
		if i >= 500 && i < 700 {
			r.Outcome, r.Latency = probe.Error, time.Millisecond
		}
		if i%100 == 0 && r.Outcome == probe.OK {
			r.Latency = 3 * time.Second // 1 % slow
		}
		a.Add(r)
	}
	return a.Close()
}

func close(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestGrade(t *testing.T) {
	for _, c := range []struct {
		av   float64
		want string
	}{{1, "A+"}, {0.999, "A+"}, {0.9989, "A"}, {0.995, "A"}, {0.99, "B"}, {0.9899, "C"}, {0.98, "C"}, {0.97999, "D"}, {0, "D"}} {
		if got := slo.Grade(c.av); got != c.want {
			t.Errorf("Grade(%v) = %s, want %s", c.av, got, c.want)
		}
	}
}

// TestWorkbookTable checks the burn-rate factors and alert decisions
// against the Google SRE workbook table, worked by hand.
func TestWorkbookTable(t *testing.T) {
	ws := slo.GoogleWindows(1)
	want := []struct {
		name        string
		long, short time.Duration
		factor      float64
	}{
		{"page-quick", time.Hour, 5 * time.Minute, 14.4},  // 2 % of 30 d in 1 h
		{"page-slow", 6 * time.Hour, 30 * time.Minute, 6}, // 5 % in 6 h
		{"ticket-quick", 24 * time.Hour, 2 * time.Hour, 3},
		{"ticket-slow", 72 * time.Hour, 6 * time.Hour, 1}, // 10 % in 3 d
	}
	for i, w := range want {
		if ws[i].Name != w.name || ws[i].Long != w.long || ws[i].Short != w.short || !close(ws[i].Factor, w.factor) {
			t.Errorf("window %d = %+v, want %+v", i, ws[i], w)
		}
	}
	// 99.9 %: budget 0.1 %. 1.44 % errors burn at 14.4.
	if b := slo.BurnRate(0.0144, 0.001); !close(b, 14.4) {
		t.Errorf("burn %v, want 14.4", b)
	}
	if !ws[0].Fires(0.0144, 0.02, 0.001) {
		t.Error("page-quick must fire when both windows burn >= 14.4")
	}
	if ws[0].Fires(0.0144, 0.0100, 0.001) {
		t.Error("page-quick must not fire when the short window burns 10")
	}
	// 99 %: 6 % errors over 6 h burn at 6 and page.
	if !ws[1].Fires(0.06, 0.07, 0.01) || ws[1].Fires(0.059, 0.07, 0.01) {
		t.Error("page-slow at 99 % fires from 6 % errors")
	}
	// Scaled by 720 (30 d -> 1 h): 1 h -> 5 s, 5 m -> 416.67 ms.
	s := slo.GoogleWindows(720)
	if s[0].Long != 5*time.Second || s[0].Short.Round(time.Millisecond) != 417*time.Millisecond || !close(s[0].Factor, 14.4) {
		t.Errorf("scaled page-quick %+v", s[0])
	}
}

func TestEvaluate(t *testing.T) {
	a := run60(t, uptime.WithGoodput(uptime.Criteria{MaxLatency: time.Second}))
	objs := []slo.Objective{
		slo.Availability(0.99),
		slo.Availability(0.995),
		slo.ErrorRate(0.01),
		slo.Latency(0.95, 2*time.Second),
		slo.Latency(0.995, 2*time.Second),
		slo.RecoveryTime(5 * time.Second),
		slo.RecoveryTime(3 * time.Second),
		slo.Throughput(40),
		slo.TTFT(0.95, time.Second),
		slo.Goodput(0.9),
	}
	rs, err := slo.Evaluate(a, objs, slo.WithTimeScale(720))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name      string
		Compliant bool
		NoData    bool
		Actual    float64
		Burn      float64
	}
	var got []row
	for _, r := range rs {
		// HDR quantiles are exact to 0.1 %: round to 3 significant digits.
		act := r.Actual
		if act != 0 {
			mag := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(act))))
			act = math.Round(act*mag) / mag
		}
		got = append(got, row{r.Name, r.Compliant, r.NoData, act, math.Round(r.BurnRate*1e6) / 1e6})
	}
	// By hand: 200 of 3000 failed = 6.6667 %, availability 93.3333 %.
	// Burn vs 99 %: 0.066667/0.01 = 6.666667; vs 99.5 %: 13.333333.
	// Latency is over all 3000 requests (failures at their time to fail,
	// here fast): 28 take 3 s: p95 0.1 s; p99.5 3 s; burn = (28/3000) / 5 %
	// = 0.186667 and (28/3000) / 0.5 % = 1.866667.
	// Throughput: 2800 good over the span, which ends with the 3 s request
	// sent at 58 s.
	span := (61 * time.Second).Seconds()
	if a.Span.Seconds() != span {
		t.Fatalf("span %v", a.Span)
	}
	want := []row{
		{"availability", false, false, 0.933, 6.666667},
		{"availability", false, false, 0.933, 13.333333},
		{"error_rate", false, false, 0.0667, 6.666667},
		{"latency_p95", true, false, 0.1, 0.186667},
		{"latency_p99.5", false, false, 3, 1.866667},
		{"recovery_time", true, false, 4.04, 0},
		{"recovery_time", false, false, 4.04, 0},
		{"throughput", true, false, 45.9, 0},
		{"ttft_p95", false, true, 0, 0},
		{"goodput", true, false, 0.924, 0.76},
	}
	// Goodput: 2800 ok of which 28 slower than 1 s: 2772/3000 = 0.924;
	// burn 0.076/0.1 = 0.76.
	want[4].Name = "latency_p995"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if rs[0].BudgetConsumed != rs[0].BurnRate || !close(rs[0].BudgetRemaining, 1-rs[0].BurnRate) {
		t.Errorf("budget over the run itself: %+v", rs[0])
	}
	// The outage starts at 10.08 s, when the first failure was sent that
	// left after the last good answer arrived (the request sent at 9.98 s
	// answered at 10.08 s: the failures sent before then were in flight
	// across a working service). It ends at 14.12 s, when the first answer
	// of the good run that lasted arrived (the request sent at 14.02 s; the
	// one sent at 14 s took 3 s).
	if !close(rs[5].BudgetConsumed, 4.04/5) {
		t.Errorf("recovery budget consumed %v, want 4.04/5", rs[5].BudgetConsumed)
	}
	if slo.AllCompliant(rs) {
		t.Error("AllCompliant must be false")
	}
	// Against 99 % the page-quick factor 14.4 needs 14.4 % errors in both
	// windows (scaled: 5 s and 417 ms). The 5 s window (250 requests) gets
	// 36 errors 0.72 s into the outage; the alert resolves when the 417 ms
	// window (about 20 requests) holds at most 2 errors: about 14.37 s.
	for _, al := range rs[0].Alerts {
		if !al.Fired {
			t.Errorf("%s did not fire: %+v", al.Window.Name, al)
		}
	}
	pq := rs[0].Alerts[0]
	// Rules are evaluated every short/4 = 104 ms, so allow one interval.
	if f := pq.FiredAt.Sub(t0); f < 10720*time.Millisecond || f > 10830*time.Millisecond {
		t.Errorf("page-quick fired at +%v, want 10.72-10.83 s", f)
	}
	if r := pq.ResolvedAt.Sub(t0); r < 14370*time.Millisecond || r > 14480*time.Millisecond {
		t.Errorf("page-quick resolved at +%v, want 14.37-14.48 s", r)
	}
	// A period of 30 days scales the budget consumed by span/period.
	o := slo.Availability(0.99)
	o.Period = 30 * 24 * time.Hour
	rs2, _ := slo.Evaluate(a, []slo.Objective{o})
	if want := rs2[0].BurnRate * a.Span.Seconds() / o.Period.Seconds(); !close(rs2[0].BudgetConsumed, want) {
		t.Errorf("budget consumed %v, want %v", rs2[0].BudgetConsumed, want)
	}
	if _, err := json.Marshal(rs); err != nil {
		t.Errorf("results must encode: %v", err)
	}
}

func TestEvaluateRejectsBadObjectives(t *testing.T) {
	a := run60(t)
	for _, o := range []slo.Objective{{Kind: "bogus"}, slo.Availability(1.5), slo.Latency(1, time.Second), slo.Throughput(0)} {
		if _, err := slo.Evaluate(a, []slo.Objective{o}); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
	if _, err := slo.Evaluate(a, nil, slo.WithTimeScale(0.5)); err == nil {
		t.Error("time scale below 1 must fail")
	}
}

func TestSpecYAML(t *testing.T) {
	const doc = `
slo:
  availability: 99.0
  latency_p95: 2s
  latency_p99: 4s
  error_rate: 1%
  recovery_time: 15s
  ttft_p95: 500ms
  throughput: 10
  goodput: {ttft: 500ms, tpot: 50ms, attainment: "95%", min_rps: 5}
`
	var plan struct {
		SLO slo.Spec `yaml:"slo"`
	}
	if err := yaml.Unmarshal([]byte(doc), &plan); err != nil {
		t.Fatal(err)
	}
	s := plan.SLO
	if s.Availability.Fraction() != 0.99 || s.ErrorRate.Fraction() != 0.01 || s.LatencyP95.D() != 2*time.Second ||
		s.RecoveryTime.D() != 15*time.Second || s.TTFTP95.D() != 500*time.Millisecond || s.Throughput != 10 ||
		s.Goodput.Attainment.Fraction() != 0.95 || s.Goodput.TPOT.D() != 50*time.Millisecond {
		t.Fatalf("spec %+v", s)
	}
	var names []string
	for _, o := range s.Objectives() {
		names = append(names, o.Name)
	}
	if diff := cmp.Diff([]string{"availability", "latency_p95", "latency_p99", "error_rate", "recovery_time", "ttft_p95", "throughput", "goodput", "goodput_rate"}, names); diff != "" {
		t.Errorf("objectives (-want +got):\n%s", diff)
	}
	if c := s.GoodputCriteria(); c.MaxTTFT != 500*time.Millisecond || c.MaxTPOT != 50*time.Millisecond {
		t.Errorf("criteria %+v", c)
	}
	// Round trip through JSON and YAML.
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back slo.Spec
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatalf("json round trip %s: %v", j, err)
	}
	y, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var backY slo.Spec
	if err := yaml.Unmarshal(y, &backY); err != nil {
		t.Fatalf("yaml round trip %s: %v", y, err)
	}
	if diff := cmp.Diff(s, back); diff != "" {
		t.Errorf("json round trip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(s, backY); diff != "" {
		t.Errorf("yaml round trip (-want +got):\n%s", diff)
	}
}

func TestSpecErrorsNameTheField(t *testing.T) {
	for in, want := range map[string]string{
		"availability: 101":             "slo:1:15: availability: percentage 101 is out of range",
		"error_rate: lots":              `slo:1:13: error_rate: invalid percentage "lots"`,
		"latency_p95: fast":             `slo:1:14: latency_p95: invalid duration "fast"`,
		"latncy_p95: 2s":                `slo:1:1: latncy_p95: unknown key "latncy_p95"`,
		"throughput: -1":                "slo:1:13: throughput: must be positive, got -1",
		"goodput: {ttft: soon}":         `slo:1:17: goodput.ttft: invalid duration "soon"`,
		"goodput: {attainment: 95%}":    "slo:1:11: goodput: set at least one of ttft, tpot, latency",
		"goodput: {ttft: 1s, bogus: 1}": `slo:1:21: goodput.bogus: unknown key "bogus"`,
		"recovery_time: 15":             `slo:1:16: recovery_time: invalid duration "15": a bare number has no unit`,
	} {
		_, err := slo.ParseSpec([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", in, err, want)
		}
	}
}

// TestKindOpUnit pins the direction and unit of every objective kind: a
// report states "actual < target" or "actual > target" from them, so a
// wrong direction would make a true breach read as a false sentence.
func TestKindOpUnit(t *testing.T) {
	for _, c := range []struct {
		kind     slo.Kind
		op, unit string
	}{
		{slo.KindAvailability, ">=", "ratio"},
		{slo.KindGoodput, ">=", "ratio"},
		{slo.KindThroughput, ">=", "req/s"},
		{slo.KindGoodputRate, ">=", "req/s"},
		{slo.KindErrorRate, "<=", "ratio"},
		{slo.KindLatency, "<=", "seconds"},
		{slo.KindTTFT, "<=", "seconds"},
		{slo.KindRecoveryTime, "<=", "seconds"},
		{slo.KindRTO, "<=", "seconds"},
		{slo.KindRPO, "<=", "seconds"},
	} {
		t.Run(string(c.kind), func(t *testing.T) {
			if got := c.kind.Op(); got != c.op {
				t.Errorf("Op() = %q, want %q", got, c.op)
			}
			if got := c.kind.Unit(); got != c.unit {
				t.Errorf("Unit() = %q, want %q", got, c.unit)
			}
		})
	}
}

// TestOpMatchesCompliance checks Op against Evaluate itself: a measurement
// on the Op side of its target is compliant, one on the other side is not.
func TestOpMatchesCompliance(t *testing.T) {
	a := run60(t) // availability 0.99333, error rate 0.00667, p95 0.1 s
	for _, obj := range []slo.Objective{
		slo.Availability(0.99), slo.Availability(0.999),
		slo.ErrorRate(0.01), slo.ErrorRate(0.001),
		slo.Latency(0.95, 2*time.Second), slo.Latency(0.95, 50*time.Millisecond),
	} {
		rs, err := slo.Evaluate(a, []slo.Objective{obj})
		if err != nil {
			t.Fatal(err)
		}
		r := rs[0]
		holds := r.Actual >= r.Target
		if obj.Kind.Op() == slo.OpAtMost {
			holds = r.Actual <= r.Target
		}
		if holds != r.Compliant {
			t.Errorf("%s target %v actual %v: Op %s says %v, Evaluate says compliant=%v", r.Name, r.Target, r.Actual, obj.Kind.Op(), holds, r.Compliant)
		}
	}
}
