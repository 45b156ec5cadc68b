package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
)

// Metric names used by Compare and Trend.
const (
	MetricNameAvailability = "availability"
	MetricNameErrorRate    = "error_rate"
	MetricNameLatencyP50   = "latency_p50"
	MetricNameLatencyP95   = "latency_p95"
	MetricNameLatencyP99   = "latency_p99"
	MetricNameTTFTP95      = "ttft_p95"
	MetricNameMTTR         = "mttr"
	MetricNameOutages      = "outages"
)

// metricDef describes one comparable measure of a Report.
type metricDef struct {
	name           string
	unit           string
	higherIsBetter bool
	// get returns the measure, ok false when the run has none (MTTR of a
	// run without outages); missing says so in words.
	get     func(*Report) (float64, bool)
	missing string
}

// always wraps a measure every run has.
func always(f func(*Report) float64) func(*Report) (float64, bool) {
	return func(r *Report) (float64, bool) { return f(r), true }
}

// measured wraps a percentile a run may not have measured (TTFT without a
// streamed request): pick returns the quantiles and the percentile.
func measured(pick func(*Report) (Quantiles, float64)) func(*Report) (float64, bool) {
	return func(r *Report) (float64, bool) {
		q, v := pick(r)
		return v, q.Measured()
	}
}

var metricDefs = []metricDef{
	{MetricNameAvailability, "ratio", true, always(func(r *Report) float64 { return r.Availability.RequestBased }), ""},
	{MetricNameErrorRate, "ratio", false, always(func(r *Report) float64 { return r.Requests.ErrorRate() }), ""},
	{MetricNameLatencyP50, "seconds", false, measured(func(r *Report) (Quantiles, float64) { return r.Latency, r.Latency.P50 }), NotMeasured},
	{MetricNameLatencyP95, "seconds", false, measured(func(r *Report) (Quantiles, float64) { return r.Latency, r.Latency.P95 }), NotMeasured},
	{MetricNameLatencyP99, "seconds", false, measured(func(r *Report) (Quantiles, float64) { return r.Latency, r.Latency.P99 }), NotMeasured},
	{MetricNameTTFTP95, "seconds", false, measured(func(r *Report) (Quantiles, float64) { return r.TTFT, r.TTFT.P95 }), NotMeasured},
	{MetricNameMTTR, "seconds", false, (*Report).MTTR, NoOutages},
	{MetricNameOutages, "count", false, always(func(r *Report) float64 { return float64(len(r.Outages)) }), ""},
}

// MetricValue returns the named measure of r (see the MetricName
// constants); known is false for an unknown name. A measure r does not
// have (MTTR without outages, TTFT not measured) is 0 with known true: use
// Compare or Trend, which leave it out, to judge it.
func MetricValue(r *Report, name string) (v float64, known bool) {
	for _, d := range metricDefs {
		if d.name == name {
			v, _ := d.get(r)
			return v, true
		}
	}
	return 0, false
}

// Delta is one measure before and after.
type Delta struct {
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
	// Before and After are null when that run has no such measure (MTTR
	// of a run without outages, TTFT of a run that streamed nothing).
	Before *float64 `json:"before"`
	After  *float64 `json:"after"`
	// Change is After - Before (0 unless both are set).
	Change float64 `json:"change"`
	// Relative is Change / Before (NaN-free: 0 when Before is 0 or unset).
	Relative float64 `json:"relative"`
	// Verdict is better, worse, same, "not comparable" when one run lacks
	// the measure, or "not measured" when neither run measured it (two
	// runs without outages have the same MTTR-less record: "same").
	Verdict string `json:"verdict"`
	// Missing says why Before or After is null ("no outages", "not
	// measured").
	Missing string `json:"missing,omitempty"`
}

// VerdictNotComparable is a Delta's verdict when one run lacks the measure.
const VerdictNotComparable = "not comparable"

// Comparison is a before/after view of two drills, e.g. around a maintenance window.
type Comparison struct {
	Before string  `json:"before"`
	After  string  `json:"after"`
	Deltas []Delta `json:"deltas"`
}

// Compare sets the measures of before and after side by side.
func Compare(before, after *Report) Comparison {
	c := Comparison{Before: label(before), After: label(after)}
	for _, d := range metricDefs {
		c.Deltas = append(c.Deltas, delta(d, before, after))
	}
	return c
}

// delta compares one measure of two runs.
func delta(d metricDef, before, after *Report) Delta {
	x := Delta{Metric: d.name, Unit: d.unit}
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
			x.Verdict = "same"
		}
		return x
	}
	x.Change = a - b
	if b != 0 {
		x.Relative = (a - b) / math.Abs(b)
	}
	switch {
	case math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)):
		x.Verdict = "same"
	case (a > b) == d.higherIsBetter:
		x.Verdict = "better"
	default:
		x.Verdict = "worse"
	}
	return x
}

func label(r *Report) string {
	if r.StartedAt.IsZero() {
		return r.Plan
	}
	return r.Plan + " @ " + r.StartedAt.UTC().Format(time.RFC3339)
}

// Markdown renders the comparison as a table.
func (c Comparison) Markdown() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Before: %s\nAfter:  %s\n\n", c.Before, c.After)
	var rows [][]string
	for _, d := range c.Deltas {
		rel, change := "-", "-"
		if d.Before != nil && d.After != nil {
			change = signed(d.Change, d.Unit)
			if *d.Before != 0 {
				rel = fmt.Sprintf("%+.1f%%", d.Relative*100)
			}
		}
		rows = append(rows, []string{d.Metric, fmtOptDelta(d.Before, d.Unit, d.Missing), fmtOptDelta(d.After, d.Unit, d.Missing), change, rel, d.Verdict})
	}
	mdTable(&b, []string{"Metric", "Before", "After", "Change", "Relative", "Verdict"}, rows)
	return b.String()
}

func fmtDelta(v float64, unit string) string {
	if unit == "count" {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return fmtUnit(v, unit)
}

// fmtOptDelta is fmtDelta of a measure a run may lack (missing says why).
func fmtOptDelta(v *float64, unit, missing string) string {
	if v == nil {
		return cmp.Or(missing, "-")
	}
	return fmtDelta(*v, unit)
}

func signed(v float64, unit string) string {
	switch unit {
	case "ratio":
		return fmt.Sprintf("%+.3f pp", v*100)
	case "seconds":
		return fmt.Sprintf("%+.1f ms", v*1000)
	default:
		return fmt.Sprintf("%+g", v)
	}
}

// TrendLine is a least-squares fit of one measure over past runs.
type TrendLine struct {
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
	Points int    `json:"points"`
	// SlopePerDay is the fitted change per day.
	SlopePerDay float64 `json:"slope_per_day"`
	// Latest is the fitted value at the newest run.
	Latest float64 `json:"latest"`
	// Threshold is the limit checked, if one was given.
	Threshold *float64 `json:"threshold,omitempty"`
	// Crossing is when the fit reaches Threshold, if it is heading there.
	Crossing *time.Time `json:"crossing,omitempty"`
	// Crossed is true when the newest fitted value is already past Threshold.
	Crossed bool `json:"crossed,omitempty"`
}

// Trend fits each measure across runs (ordered by start time) with least
// squares and, for the measures with a threshold, estimates when the fit
// crosses it. A threshold is "bad" beyond it: availability below, the
// others above. A measure is fitted over the runs that have it (MTTR over
// runs with outages); one that fewer than two runs have is left out.
func Trend(runs []*Report, thresholds map[string]float64) []TrendLine {
	rs := append([]*Report(nil), runs...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].StartedAt.Before(rs[j].StartedAt) })
	if len(rs) < 2 {
		return nil
	}
	t0 := rs[0].StartedAt
	var out []TrendLine
	for _, d := range metricDefs {
		var xs, ys []float64 // the runs that have the measure
		for _, r := range rs {
			if y, ok := d.get(r); ok {
				xs = append(xs, r.StartedAt.Sub(t0).Hours()/24)
				ys = append(ys, y)
			}
		}
		slope, icept, ok := LeastSquares(xs, ys)
		if !ok {
			continue
		}
		last := xs[len(xs)-1]
		tl := TrendLine{Metric: d.name, Unit: d.unit, Points: len(xs), SlopePerDay: slope, Latest: icept + slope*last}
		if th, ok := thresholds[d.name]; ok {
			th := th
			tl.Threshold = &th
			bad := func(v float64) bool {
				if d.higherIsBetter {
					return v < th
				}
				return v > th
			}
			worsening := slope != 0 && (slope > 0) != d.higherIsBetter
			switch {
			case bad(tl.Latest):
				tl.Crossed = true
			case worsening:
				// Solve intercept + slope*x = threshold for x in days.
				x := (th - icept) / slope
				at := t0.Add(time.Duration(x * 24 * float64(time.Hour)))
				tl.Crossing = &at
			}
		}
		out = append(out, tl)
	}
	return out
}

// LeastSquares fits y = intercept + slope*x. ok is false with fewer than
// two points or when all x are equal.
func LeastSquares(xs, ys []float64) (slope, intercept float64, ok bool) {
	n := float64(len(xs))
	if len(xs) < 2 || len(xs) != len(ys) {
		return 0, 0, false
	}
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	if sxx == 0 {
		return 0, 0, false
	}
	slope = sxy / sxx
	return slope, my - slope*mx, true
}

// TrendMarkdown renders trend lines as a table.
func TrendMarkdown(lines []TrendLine) string {
	var b bytes.Buffer
	var rows [][]string
	for _, l := range lines {
		th, cross := "-", "-"
		if l.Threshold != nil {
			th = fmtDelta(*l.Threshold, l.Unit)
			switch {
			case l.Crossed:
				cross = "already crossed"
			case l.Crossing != nil:
				cross = l.Crossing.UTC().Format("2006-01-02")
			default:
				cross = "not heading there"
			}
		}
		rows = append(rows, []string{l.Metric, strconv.Itoa(l.Points), fmtDelta(l.Latest, l.Unit), signed(l.SlopePerDay, l.Unit) + "/day", th, cross})
	}
	mdTable(&b, []string{"Metric", "Runs", "Latest (fit)", "Slope", "Threshold", "Crossing"}, rows)
	return b.String()
}
