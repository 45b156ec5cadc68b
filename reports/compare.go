package reports

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/aiuptime/aiuptime/stats"
)

// Comparison verdicts of a metric and of a whole comparison.
const (
	VerdictBetter = "better"
	VerdictWorse  = "worse"
	VerdictSame   = "same"
	// VerdictNotComparable is a Delta's verdict when one run lacks the
	// measure, or has too few values of it to test.
	VerdictNotComparable = "not comparable"
)

// Direction says which way a change of a metric is worse.
type Direction string

// Directions.
const (
	DirectionIncrease Direction = "increase" // a rise is worse (latency, errors)
	DirectionDecrease Direction = "decrease" // a fall is worse (availability)
	DirectionEither   Direction = "either"   // any change is worse
)

// Tolerance is how large a significant change must be to count: beyond
// both the relative and the absolute bound (a bound of 0 always holds).
// A p95 that moves from 2.0 ms to 2.1 ms is significant on 1000 samples
// and still no regression.
type Tolerance struct {
	// Relative is a fraction of the before value (0.25: 25 %).
	Relative float64 `json:"relative"`
	// Absolute is in the metric's unit (seconds, ratio, count).
	Absolute float64 `json:"absolute"`
}

// MetricRule is how one metric is judged, as a canary judge's metric
// configuration: which direction is worse, the tolerance, and whether
// it is critical (a critical metric that is worse makes the whole
// comparison worse, whatever the others say).
type MetricRule struct {
	Direction Direction `json:"direction"`
	Tolerance Tolerance `json:"tolerance"`
	Critical  bool      `json:"critical"`
}

// Comparison defaults.
const (
	// DefaultCompareAlpha is the significance level of every metric's test.
	DefaultCompareAlpha = 0.05
	// DefaultComparePassScore is the share of judged metrics that must not
	// be worse for the comparison to pass (Kayenta's pass threshold).
	DefaultComparePassScore = 0.75
)

// DefaultCompareRules returns the rules of the metrics Compare judges:
// latency and TTFT within 25 % and 50 ms (the validation step's
// defaults), error rate and availability within half a percentage point,
// MTTR within 25 % and 1 s, outages within one. Error rate,
// availability and p95 latency are critical.
func DefaultCompareRules() map[string]MetricRule {
	lat := Tolerance{Relative: 0.25, Absolute: 0.050}
	return map[string]MetricRule{
		MetricNameAvailability: {DirectionDecrease, Tolerance{Absolute: 0.005}, true},
		MetricNameErrorRate:    {DirectionIncrease, Tolerance{Absolute: 0.005}, true},
		MetricNameLatencyP50:   {DirectionIncrease, lat, false},
		MetricNameLatencyDist:  {DirectionIncrease, lat, false},
		MetricNameLatencyP95:   {DirectionIncrease, lat, true},
		MetricNameLatencyP99:   {DirectionIncrease, lat, false},
		MetricNameTTFTP95:      {DirectionIncrease, lat, false},
		MetricNameMTTR:         {DirectionIncrease, Tolerance{Relative: 0.25, Absolute: 1}, false},
		MetricNameOutages:      {DirectionIncrease, Tolerance{Absolute: 1}, false},
	}
}

// CompareOptions configure Compare; the zero value takes the defaults.
type CompareOptions struct {
	// Alpha is the significance level (DefaultCompareAlpha).
	Alpha float64
	// Rules override DefaultCompareRules per metric.
	Rules map[string]MetricRule
	// Force compares runs of different plans; Comparison says it did.
	Force bool
}

// Interval is an estimate with its confidence interval.
type Interval struct {
	Estimate float64 `json:"estimate"`
	Low      float64 `json:"low"`
	High     float64 `json:"high"`
	// Level is the interval's confidence level (0.95).
	Level float64 `json:"level"`
}

// Delta is one measure of two runs, judged.
type Delta struct {
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
	// Before and After are null when that run has no such measure (MTTR
	// of a run without outages, TTFT of a run that streamed nothing).
	Before *float64 `json:"before"`
	After  *float64 `json:"after"`
	// Change is After - Before (0 unless both are set).
	Change float64 `json:"change"`
	// Relative is Change / Before (0 when Before is 0 or unset).
	Relative float64 `json:"relative"`
	// Verdict is better, worse, same, "not comparable" when one run lacks
	// the measure or has too few values to test, or "not measured" when
	// neither run measured it.
	Verdict string `json:"verdict"`
	// Test names the test behind PValue ("mann-whitney-u", ...).
	Test string `json:"test,omitempty"`
	// PValue is the two-sided p-value of "the runs differ"; null when no
	// test could be made (see Note).
	PValue *float64 `json:"p_value"`
	// N is how many values each run gave the test (samples, outages,
	// requests).
	N [2]int64 `json:"n,omitempty"`
	// Shift is after - before estimated from the samples, with its
	// interval: the Hodges-Lehmann shift of the distribution (rank test)
	// or the quantile's difference (bootstrap test).
	Shift *Interval `json:"shift,omitempty"`
	// Rule is how the metric was judged.
	Rule MetricRule `json:"rule"`
	// Note says, in words, why the verdict is what it is.
	Note string `json:"note,omitempty"`
	// Missing says why Before or After is null ("no outages", "not
	// measured").
	Missing string `json:"missing,omitempty"`
}

// Comparison sets two drills side by side, e.g. before and after a
// maintenance window, and judges every metric.
type Comparison struct {
	Before string `json:"before"`
	After  string `json:"after"`
	// Forced is set when the runs are of different plans and --force
	// compared them anyway.
	Forced bool `json:"forced,omitempty"`
	// Warnings are what the reader must know before trusting the table
	// (different plans or stacks, reports without samples).
	Warnings []string `json:"warnings,omitempty"`
	Alpha    float64  `json:"alpha"`
	Deltas   []Delta  `json:"deltas"`
	// Score is the share of judged metrics that are not worse.
	Score float64 `json:"score"`
	// Verdict is worse (a critical metric is worse, or Score is below the
	// pass score), better (none worse, one better) or same.
	Verdict string `json:"verdict"`
	// Reason says why, in one line.
	Reason string `json:"reason"`
}

// MetricNameLatencyDist is the comparison's row of the whole latency
// distribution: its values are the sampled medians, its change the
// Hodges-Lehmann shift, its test Mann-Whitney U. Trends have no such row.
const MetricNameLatencyDist = "latency_distribution"

// latencyDistribution defines the MetricNameLatencyDist row.
var latencyDistribution = metricDef{
	name: MetricNameLatencyDist, unit: "seconds", missing: NotMeasured,
	get: func(r *Report) (float64, bool) {
		if r.Samples == nil || len(r.Samples.Latency.Values) == 0 {
			return 0, false
		}
		v, _ := stats.Finite(r.Samples.Latency.Values)
		return stats.Median(v), len(v) > 0
	},
}

// ErrDifferentPlans is returned by Compare for runs of different plans
// without CompareOptions.Force.
var ErrDifferentPlans = fmt.Errorf("runs of different plans")

// Compare judges every metric of after against before: a significance
// test on the runs' samples (a rank test on latency and TTFT, tests of
// counts on errors and outages) and an effect beyond the metric's
// tolerance in its worse direction. Only a significant change beyond the
// tolerance is worse or better.
func Compare(before, after *Report, o CompareOptions) (Comparison, error) {
	c := Comparison{Before: label(before), After: label(after), Alpha: o.Alpha}
	if c.Alpha <= 0 || c.Alpha >= 1 {
		c.Alpha = DefaultCompareAlpha
	}
	if before.Plan != after.Plan {
		if !o.Force {
			return c, fmt.Errorf("%w: %q and %q: a comparison of different drills says nothing about a change; --force compares them anyway", ErrDifferentPlans, before.Plan, after.Plan)
		}
		c.Forced = true
		c.Warnings = append(c.Warnings, fmt.Sprintf("different plans (%q before, %q after), compared by --force: differences may come from the plans, not the stack", before.Plan, after.Plan))
	}
	if before.Stack != after.Stack && before.Stack != "" && after.Stack != "" {
		c.Warnings = append(c.Warnings, fmt.Sprintf("different stacks (%q before, %q after)", before.Stack, after.Stack))
	}
	for _, r := range []*Report{before, after} {
		if r.Samples == nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s has no samples (written before they were kept): latency and TTFT are judged by their summaries and tolerance alone, without a test", label(r)))
		}
	}
	rules := DefaultCompareRules()
	for k, v := range o.Rules {
		rules[k] = v
	}
	for _, d := range append(slices.Clone(metricDefs), latencyDistribution) {
		c.Deltas = append(c.Deltas, judge(d, rules[d.name], c.Alpha, before, after))
	}
	c.overall()
	return c, nil
}

// overall scores the deltas and sets the comparison's verdict.
func (c *Comparison) overall() {
	judged, worse, better := 0, 0, 0
	var critical []string
	for _, d := range c.Deltas {
		switch d.Verdict {
		case VerdictWorse:
			worse++
			if d.Rule.Critical {
				critical = append(critical, d.Metric)
			}
		case VerdictBetter:
			better++
		case VerdictSame:
		default:
			continue
		}
		judged++
	}
	c.Score = 1
	if judged > 0 {
		c.Score = float64(judged-worse) / float64(judged)
	}
	switch {
	case len(critical) > 0:
		c.Verdict, c.Reason = VerdictWorse, fmt.Sprintf("critical metric worse: %v", critical)
	case c.Score < DefaultComparePassScore:
		c.Verdict, c.Reason = VerdictWorse, fmt.Sprintf("%d of %d metrics worse (score %.0f%%, pass %.0f%%)", worse, judged, c.Score*100, DefaultComparePassScore*100)
	case worse > 0:
		c.Verdict, c.Reason = VerdictSame, fmt.Sprintf("%d of %d metrics worse, none critical (score %.0f%%, pass %.0f%%)", worse, judged, c.Score*100, DefaultComparePassScore*100)
	case better > 0:
		c.Verdict, c.Reason = VerdictBetter, fmt.Sprintf("%d of %d metrics better, none worse", better, judged)
	default:
		c.Verdict, c.Reason = VerdictSame, fmt.Sprintf("no significant change beyond tolerance in %d metrics", judged)
	}
}

func label(r *Report) string {
	if r.StartedAt.IsZero() {
		return r.Plan
	}
	return r.Plan + " @ " + r.StartedAt.UTC().Format(time.RFC3339)
}

// judge compares one measure of two runs.
func judge(d metricDef, rule MetricRule, alpha float64, before, after *Report) Delta {
	x := Delta{Metric: d.name, Unit: d.unit, Rule: rule}
	b, bok := d.get(before)
	a, aok := d.get(after)
	if bok {
		x.Before = &b
	}
	if aok {
		x.After = &a
	}
	if !bok || !aok {
		x.Missing = d.missing
		x.Verdict = VerdictNotComparable
		switch {
		case bok || aok:
		case d.missing == NotMeasured:
			x.Verdict = NotMeasured
		default:
			x.Verdict = VerdictSame
		}
		return x
	}
	x.Change = a - b
	if b != 0 {
		x.Relative = (a - b) / math.Abs(b)
	}
	t := testMetric(d.name, before, after, 1-alpha)
	x.Test, x.N, x.Shift = t.name, t.n, t.shift
	if t.err != "" {
		x.Verdict, x.Note = VerdictNotComparable, t.err
		return x
	}
	if t.name != testNone {
		p := t.p
		x.PValue = &p
	}
	x.Verdict, x.Note = verdict(x, t, alpha)
	return x
}

// verdict applies the rule: a change is worse or better only when it is
// significant, agrees in sign with the sampled shift, and lies beyond the
// tolerance (at its interval's near end, where the test gives one).
func verdict(x Delta, t testResult, alpha float64) (string, string) {
	if x.Change == 0 {
		return VerdictSame, "no change"
	}
	untested := t.name == testNone
	if !untested && t.p >= alpha {
		return VerdictSame, "not significant (" + pText(t.p) + ")"
	}
	if t.shift != nil && t.shift.Estimate != 0 && (t.shift.Estimate > 0) != (x.Change > 0) {
		return VerdictSame, fmt.Sprintf("the samples moved the other way (%+.1f ms) than the run's summary", t.shift.Estimate*1000)
	}
	tol := x.Rule.Tolerance
	// With an interval, the change must be beyond tolerance at its near
	// end: sure to exceed it, not just likely. One run's noise (a slow
	// minute on a busy host) moves a tail by more than its sampling error;
	// it does not move a whole interval.
	eff, at := x.Change, ""
	if t.shift != nil {
		eff = nearEnd(*t.shift)
		at = fmt.Sprintf(" at the interval's near end (%s)", signed(eff, x.Unit))
	}
	rel := math.Inf(1)
	if x.Before != nil && *x.Before != 0 {
		rel = math.Abs(eff / *x.Before)
	}
	if math.Abs(eff) <= tol.Absolute || rel <= tol.Relative {
		why := "significant (" + pText(t.p) + ") but within tolerance"
		if untested {
			why = "within tolerance"
		}
		return VerdictSame, why + " (" + fmtTolerance(tol, x.Unit) + ")" + at
	}
	worse := true
	switch x.Rule.Direction {
	case DirectionIncrease:
		worse = x.Change > 0
	case DirectionDecrease:
		worse = x.Change < 0
	}
	how := fmt.Sprintf("significant (%s) and beyond tolerance (%s)%s", pText(t.p), fmtTolerance(tol, x.Unit), at)
	if untested {
		how = "beyond tolerance (" + fmtTolerance(tol, x.Unit) + "), untested: " + t.why
	}
	if worse {
		return VerdictWorse, how
	}
	return VerdictBetter, how
}

// nearEnd is the end of iv nearer to no change (0 when it spans 0).
func nearEnd(iv Interval) float64 {
	switch {
	case iv.Low > 0:
		return iv.Low
	case iv.High < 0:
		return iv.High
	}
	return 0
}

// fmtP formats a p-value for a table (in words below 0.0001: a table's
// text escapes "<").
func fmtP(p float64) string {
	if p < 0.0001 {
		return "under 0.0001"
	}
	return fmt.Sprintf("%.4f", p)
}

// pText is a p-value in a sentence: "p = 0.0140", "p under 0.0001".
func pText(p float64) string {
	if p < 0.0001 {
		return "p " + fmtP(p)
	}
	return "p = " + fmtP(p)
}

// fmtTolerance is a tolerance in the metric's unit.
func fmtTolerance(t Tolerance, unit string) string {
	var parts []string
	if t.Relative > 0 {
		parts = append(parts, fmt.Sprintf("%g%%", t.Relative*100))
	}
	if t.Absolute > 0 {
		parts = append(parts, fmtDelta(t.Absolute, unit))
	}
	if len(parts) == 0 {
		return "none"
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return parts[0] + " and " + parts[1]
}
