package reports

import (
	"fmt"

	"github.com/aiuptime/aiuptime/stats"
)

// testNone is testResult.name when no test could be made.
const testNone = "none"

// testResult is the significance test of one metric.
type testResult struct {
	name  string
	p     float64
	n     [2]int64
	shift *Interval
	// err makes the metric not comparable (too few values to test).
	err string
	// why says why the test is "none" (no samples kept).
	why string
}

// testMetric runs the metric's test on the two runs: Mann-Whitney U on
// the sampled latency distribution (the Kayenta-style row, its effect the
// Hodges-Lehmann shift) and on the outages' durations (MTTR); a block
// bootstrap test of the quantile itself for p50, p95, p99 and TTFT p95,
// as a tail can move while the middle stands still (a location test
// misses that), a median of two modes (one slow replica) moves more than
// the distribution's shift says, and ten values of a p99 move by noise
// alone; a test of two
// proportions on the request counts (error rate, availability); an exact
// test of two Poisson rates on the outage counts over each run's span.
func testMetric(name string, before, after *Report, level float64) testResult {
	switch name {
	case MetricNameLatencyDist:
		return rankTest(before, after, level, "latency", func(s *Samples) SampleSet { return s.Latency })
	case MetricNameLatencyP50:
		return quantileTest(before, after, level, 0.5, func(s *Samples) SampleSet { return s.Latency })
	case MetricNameLatencyP95:
		return quantileTest(before, after, level, 0.95, func(s *Samples) SampleSet { return s.Latency })
	case MetricNameLatencyP99:
		return quantileTest(before, after, level, 0.99, func(s *Samples) SampleSet { return s.Latency })
	case MetricNameTTFTP95:
		return quantileTest(before, after, level, 0.95, func(s *Samples) SampleSet { return s.TTFT })
	case MetricNameMTTR:
		return rankOf("outage durations", outageDurations(before), outageDurations(after), level)
	case MetricNameErrorRate, MetricNameAvailability:
		t := testResult{name: "two-proportion", n: [2]int64{before.Requests.Total, after.Requests.Total}}
		p, err := stats.TwoProportions(before.Requests.Failed, before.Requests.Total, after.Requests.Failed, after.Requests.Total)
		if err != nil {
			t.err = "cannot test the request counts: " + err.Error()
		}
		t.p = p
		return t
	case MetricNameOutages:
		t := testResult{name: "poisson-rates", n: [2]int64{int64(len(before.Outages)), int64(len(after.Outages))}}
		p, err := stats.PoissonRates(t.n[0], span(before), t.n[1], span(after))
		if err != nil {
			t.err = "cannot test the outage counts: " + err.Error()
		}
		t.p = p
		return t
	}
	return testResult{name: testNone, why: "no test for this metric"}
}

// rankTest is Mann-Whitney U on a sample set of both runs; without
// samples in either report there is no test.
func rankTest(before, after *Report, level float64, what string, set func(*Samples) SampleSet) testResult {
	if before.Samples == nil || after.Samples == nil {
		return testResult{name: testNone, why: "a report kept no samples"}
	}
	return rankOf(what+" samples", set(before.Samples).Values, set(after.Samples).Values, level)
}

// Bootstrap settings of the quantile tests: 2000 resamples bound a
// p-value's resolution at 0.0005 and cost about 30 ms per metric on 1000
// samples; the seed makes a comparison repeatable.
const (
	compareResamples = 2000
	compareSeed      = 0xc0_4a_9e
)

// CompareBlock is the width of the blocks of time in which the quantile
// tests resample requests: requests a few seconds apart share their fate
// (a failover slows a burst of them), so they are drawn together.
const CompareBlock = 5.0 // seconds

// quantileTest is the bootstrap test of quantile q of a sample set of both
// runs; without samples in either report there is no test.
func quantileTest(before, after *Report, level, q float64, set func(*Samples) SampleSet) testResult {
	if before.Samples == nil || after.Samples == nil {
		return testResult{name: testNone, why: "a report kept no samples"}
	}
	sx, sy := set(before.Samples), set(after.Samples)
	x, y := sx.Values, sy.Values
	t := testResult{name: "block-bootstrap-quantile", n: [2]int64{int64(len(x)), int64(len(y))}}
	xb, yb := sx.blocks(CompareBlock), sy.blocks(CompareBlock)
	if xb == nil || yb == nil {
		t.name, xb, yb = "bootstrap-quantile", nil, nil
	}
	r, err := stats.BlockBootstrapQuantileDiff(x, xb, y, yb, q, level, compareResamples, compareSeed)
	if err != nil {
		t.err = fmt.Sprintf("too few samples to test (%d before, %d after)", len(x), len(y))
		return t
	}
	t.n = [2]int64{int64(r.N1), int64(r.N2)}
	t.p = r.P
	t.shift = &Interval{Estimate: r.Estimate, Low: r.Low, High: r.High, Level: level}
	return t
}

// rankOf runs Mann-Whitney U on x (before) and y (after).
func rankOf(what string, x, y []float64, level float64) testResult {
	t := testResult{name: "mann-whitney-u", n: [2]int64{int64(len(x)), int64(len(y))}}
	mw, err := stats.MannWhitneyU(x, y, level)
	if err != nil {
		t.err = fmt.Sprintf("too few %s to test (%d before, %d after)", what, len(x), len(y))
		return t
	}
	t.n = [2]int64{int64(mw.N1), int64(mw.N2)}
	t.p = mw.P
	t.shift = &Interval{Estimate: mw.Shift, Low: mw.ShiftLow, High: mw.ShiftHigh, Level: level}
	return t
}

func outageDurations(r *Report) []float64 {
	out := make([]float64, len(r.Outages))
	for i, o := range r.Outages {
		out[i] = o.DurationSeconds
	}
	return out
}

// span is a run's duration in seconds (1 when unknown, which leaves the
// rates' ratio to the counts).
func span(r *Report) float64 {
	if s := r.FinishedAt.Sub(r.StartedAt).Seconds(); s > 0 {
		return s
	}
	return 1
}
