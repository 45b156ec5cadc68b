package reports

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/stats"
)

// lognormal draws n latencies around median seconds with a spread like a
// model server's (sigma 0.25), seeded.
func lognormal(seed uint64, n int, median float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]float64, n)
	for i := range out {
		out[i] = median * math.Exp(0.25*rng.NormFloat64())
	}
	return out
}

// runOf is a report whose summaries are computed from its samples, as the
// runner's are from the same requests: lat are every request's latency,
// ttft the streams' TTFT, failed of total requests failed.
func runOf(plan string, lat, ttft []float64, failed int64, outages ...float64) *Report {
	q := func(xs []float64) Quantiles {
		s := slices.Sorted(slices.Values(xs))
		return Quantiles{P50: stats.Quantile(s, 0.5), P95: stats.Quantile(s, 0.95), P99: stats.Quantile(s, 0.99), Count: int64(len(s))}
	}
	t0 := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	total := int64(len(lat))
	r := &Report{
		Plan: plan, Stack: "embedded", StartedAt: t0, FinishedAt: t0.Add(90 * time.Second),
		Requests:     Requests{Total: total, Failed: failed},
		Availability: Availability{RequestBased: 1 - float64(failed)/float64(total)},
		Latency:      q(lat), TTFT: q(ttft),
		Samples: &Samples{Capacity: 1000, Method: SampleMethod, Latency: NewSampleSet(total, lat, sentTimes(t0, len(lat)), t0),
			TTFT: NewSampleSet(int64(len(ttft)), ttft, sentTimes(t0, len(ttft)), t0)},
	}
	for _, d := range outages {
		r.Outages = append(r.Outages, Outage{DurationSeconds: d})
	}
	if len(outages) > 0 {
		m := 0.0
		for _, d := range outages {
			m += d / float64(len(outages))
		}
		r.MTTRSeconds = &m
	}
	return r
}

// sentTimes spreads n requests evenly over a 90 s run from t0, in unix
// seconds as the analyzer tags them.
func sentTimes(t0 time.Time, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(t0.UnixNano())/1e9 + 90*float64(i)/float64(n)
	}
	return out
}

func verdicts(c Comparison) map[string]string {
	out := map[string]string{}
	for _, d := range c.Deltas {
		out[d.Metric] = d.Verdict
	}
	return out
}

// slowHalf adds extra seconds to every other value: one of two replicas
// behind a round-robin gateway got slower.
func slowHalf(xs []float64, extra float64) []float64 {
	out := slices.Clone(xs)
	for i := 0; i < len(out); i += 2 {
		out[i] += extra
	}
	return out
}

func TestCompareJudgesWithStatistics(t *testing.T) {
	base := runOf("gpu-failover", lognormal(1, 1000, 0.1), lognormal(2, 100, 0.03), 3, 0.8, 0.9)
	same := runOf("gpu-failover", lognormal(3, 1000, 0.1), lognormal(4, 100, 0.03), 4, 0.7, 1.0)
	for _, tc := range []struct {
		name    string
		after   *Report
		opts    CompareOptions
		want    map[string]string // metric -> verdict, for the metrics named
		overall string
		note    string // in some delta's note
	}{
		{"unchanged stack", same, CompareOptions{}, map[string]string{
			MetricNameLatencyP50: VerdictSame, MetricNameLatencyP95: VerdictSame, MetricNameLatencyP99: VerdictSame,
			MetricNameTTFTP95: VerdictSame, MetricNameErrorRate: VerdictSame, MetricNameAvailability: VerdictSame,
			MetricNameMTTR: VerdictSame, MetricNameOutages: VerdictSame}, VerdictSame, ""},
		{"200ms on one replica", runOf("gpu-failover", slowHalf(lognormal(3, 1000, 0.1), 0.2), lognormal(4, 100, 0.03), 4, 0.7, 1.0), CompareOptions{},
			map[string]string{MetricNameLatencyP95: VerdictWorse, MetricNameLatencyP99: VerdictWorse, MetricNameTTFTP95: VerdictSame}, VerdictWorse, "beyond tolerance"},
		{"a 3% shift: significant, within tolerance", runOf("gpu-failover", scale(lognormal(3, 1000, 0.1), 1.03), lognormal(4, 100, 0.03), 4, 0.7, 1.0), CompareOptions{},
			map[string]string{MetricNameLatencyP50: VerdictSame, MetricNameLatencyP95: VerdictSame}, VerdictSame, "within tolerance"},
		{"faster after an update", runOf("gpu-failover", scale(lognormal(3, 1000, 0.1), 0.4), lognormal(4, 100, 0.03), 4, 0.7, 1.0), CompareOptions{},
			map[string]string{MetricNameLatencyP95: VerdictBetter}, VerdictBetter, ""},
		{"errors from 0.3% to 5%", runOf("gpu-failover", lognormal(3, 1000, 0.1), lognormal(4, 100, 0.03), 50, 0.7, 1.0), CompareOptions{},
			map[string]string{MetricNameErrorRate: VerdictWorse, MetricNameAvailability: VerdictWorse}, VerdictWorse, ""},
		{"either direction counts", runOf("gpu-failover", scale(lognormal(3, 1000, 0.1), 0.4), lognormal(4, 100, 0.03), 4, 0.7, 1.0),
			CompareOptions{Rules: map[string]MetricRule{MetricNameLatencyP95: {DirectionEither, Tolerance{Relative: 0.25}, true}}},
			map[string]string{MetricNameLatencyP95: VerdictWorse}, VerdictWorse, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compare(base, tc.after, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := verdicts(c)
			for m, v := range tc.want {
				if got[m] != v {
					t.Errorf("%s: %s, want %s\n%s", m, got[m], v, c.Markdown())
				}
			}
			if c.Verdict != tc.overall {
				t.Errorf("overall %s (%s), want %s", c.Verdict, c.Reason, tc.overall)
			}
			if tc.note != "" && !strings.Contains(c.Markdown(), tc.note) {
				t.Errorf("no note %q in\n%s", tc.note, c.Markdown())
			}
			for _, d := range c.Deltas {
				if d.Verdict != VerdictNotComparable && d.Verdict != NotMeasured && d.PValue == nil {
					t.Errorf("%s: judged without a p-value", d.Metric)
				}
			}
		})
	}
}

func scale(xs []float64, f float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * f
	}
	return out
}

// TestCompareFalseAlarms: 100 pairs of runs of one unchanged stack (new
// samples each) are "same" overall in at least 95 %: noise is no
// regression.
func TestCompareFalseAlarms(t *testing.T) {
	if testing.Short() {
		t.Skip("100 comparisons with bootstrap tests")
	}
	same := 0
	const pairs = 100
	for i := range uint64(pairs) {
		b := runOf("p", lognormal(10+2*i, 1000, 0.1), lognormal(5000+2*i, 100, 0.03), 3, 0.8, 0.9)
		a := runOf("p", lognormal(11+2*i, 1000, 0.1), lognormal(5001+2*i, 100, 0.03), 3, 0.8, 0.9)
		c, err := Compare(b, a, CompareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Verdict == VerdictSame {
			same++
		}
	}
	t.Logf("%d of %d unchanged pairs same", same, pairs)
	if same < pairs*95/100 {
		t.Errorf("%d of %d unchanged pairs same, want >= 95%%", same, pairs)
	}
}

func TestCompareRefusesDifferentPlans(t *testing.T) {
	a := runOf("gpu-failover", lognormal(1, 200, 0.1), nil, 0)
	b := runOf("container-loss", lognormal(2, 200, 0.1), nil, 0)
	if _, err := Compare(a, b, CompareOptions{}); !errors.Is(err, ErrDifferentPlans) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err %v, want ErrDifferentPlans naming --force", err)
	}
	c, err := Compare(a, b, CompareOptions{Force: true})
	if err != nil || !c.Forced || !strings.Contains(c.Markdown(), "WARNING: different plans") {
		t.Fatalf("forced: err %v, forced %v\n%s", err, c.Forced, c.Markdown())
	}
}

// TestCompareWithoutSamples: reports written before samples were kept
// are judged by tolerance alone, and say that no test was made.
func TestCompareWithoutSamples(t *testing.T) {
	b := runOf("p", lognormal(1, 1000, 0.1), nil, 0)
	a := runOf("p", slowHalf(lognormal(2, 1000, 0.1), 0.2), nil, 0)
	b.Samples, a.Samples = nil, nil
	c, err := Compare(b, a, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var p95 Delta
	for _, d := range c.Deltas {
		if d.Metric == MetricNameLatencyP95 {
			p95 = d
		}
	}
	if p95.Verdict != VerdictWorse || p95.PValue != nil || p95.Test != testNone || !strings.Contains(p95.Note, "untested") {
		t.Errorf("p95 %+v, want worse, untested, no p-value", p95)
	}
	if len(c.Warnings) != 2 || !strings.Contains(c.Warnings[0], "no samples") {
		t.Errorf("warnings %q, want one per report without samples", c.Warnings)
	}
}

// TestCompareNaN: non-finite samples are removed (the "remove" NaN
// strategy), never a verdict of their own.
func TestCompareNaN(t *testing.T) {
	b := runOf("p", lognormal(1, 500, 0.1), lognormal(2, 50, 0.03), 0)
	a := runOf("p", lognormal(3, 500, 0.1), lognormal(4, 50, 0.03), 0)
	a.Samples.Latency.Values = append(a.Samples.Latency.Values, math.NaN(), math.Inf(1))
	c, err := Compare(b, a, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range c.Deltas {
		if d.Metric == MetricNameLatencyP95 && (d.Verdict != VerdictSame || d.N[1] != 500) {
			t.Errorf("p95 %+v, want same over 500 finite samples", d)
		}
	}
}
