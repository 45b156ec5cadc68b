package drill

import (
	"fmt"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/reports"
)

// DefaultThroughputFloor is the throughput drop, in successful requests
// per second, that is never a regression whatever the tolerance: the
// probe sends at a fixed rate, so a drop of less than one request a second
// is noise of the window's edges.
const DefaultThroughputFloor = 1.0

// compareConfig is what validate allows a metric to worsen by.
type compareConfig struct {
	// tolerance is the relative worsening allowed (0.25: 25 %).
	tolerance float64
	// minDelta is the latency and TTFT floor.
	minDelta time.Duration
	// errFloor is the error-rate floor (a fraction: 0.01 is 1 point).
	errFloor float64
	// minSamples is how many requests each window needs.
	minSamples int
}

// metric is one compared metric: its value in a window, and whether the
// window measured it (why not, if not).
type metric struct {
	name, unit   string
	higherIsBest bool
	floor        float64
	value        func(WindowStats) float64
	measuredIn   func(WindowStats) (bool, string)
}

func hasLatency(w WindowStats) (bool, string) {
	return w.LatencyCount > 0, "no successful request"
}

func hasTTFT(w WindowStats) (bool, string) {
	return w.TTFTCount > 0, "no successful streamed request (the probe streams in mode stream, and every stream_every-th request in mode chat)"
}

func always(WindowStats) (bool, string) { return true, "" }

func (c compareConfig) metrics() []metric {
	lat := c.minDelta.Seconds()
	return []metric{
		{name: reports.MetricNameLatencyP50, unit: "seconds", floor: lat, value: func(w WindowStats) float64 { return w.P50.Seconds() }, measuredIn: hasLatency},
		{name: reports.MetricNameLatencyP95, unit: "seconds", floor: lat, value: func(w WindowStats) float64 { return w.P95.Seconds() }, measuredIn: hasLatency},
		{name: reports.MetricNameTTFTP95, unit: "seconds", floor: lat, value: func(w WindowStats) float64 { return w.TTFTP95.Seconds() }, measuredIn: hasTTFT},
		{name: "throughput", unit: "req/s", higherIsBest: true, floor: DefaultThroughputFloor, value: func(w WindowStats) float64 { return w.Throughput }, measuredIn: always},
		{name: reports.MetricNameErrorRate, unit: "ratio", floor: c.errFloor, value: func(w WindowStats) float64 { return w.ErrorRate }, measuredIn: always},
	}
}

// compareWindows compares every metric of after against base. A metric
// worse beyond the tolerance and beyond its floor is a regression; a
// window with fewer than minSamples requests, or without what a metric
// needs (TTFT needs streamed requests), leaves it not measured.
func compareWindows(base, after WindowStats, c compareConfig) []reports.ComparisonRow {
	var rows []reports.ComparisonRow
	for _, m := range c.metrics() {
		row := reports.ComparisonRow{Metric: m.name, Unit: m.unit, TolerancePct: c.tolerance * 100, Floor: m.floor, HigherIsBetter: m.higherIsBest}
		if why := notMeasured(m, base, after, c.minSamples); why != "" {
			row.Verdict, row.Detail = reports.ComparisonNotMeasured, why
			rows = append(rows, row)
			continue
		}
		b, a := m.value(base), m.value(after)
		row.Baseline, row.After = &b, &a
		judgeRow(&row, b, a, c.tolerance)
		rows = append(rows, row)
	}
	return rows
}

// notMeasured says why a metric cannot be compared ("" when it can).
func notMeasured(m metric, base, after WindowStats, minSamples int) string {
	for _, w := range []struct {
		name string
		st   WindowStats
	}{{"baseline", base}, {"after", after}} {
		if w.st.Total < minSamples {
			return fmt.Sprintf("%s window: %d probe requests, fewer than min_samples %d", w.name, w.st.Total, minSamples)
		}
		if ok, why := m.measuredIn(w.st); !ok {
			return w.name + " window: " + why
		}
	}
	return ""
}

// judgeRow sets the row's change and verdict from the baseline b and the
// value after a.
func judgeRow(row *reports.ComparisonRow, b, a, tolerance float64) {
	if b != 0 {
		pct := (a - b) / b * 100
		row.ChangePct = &pct
	}
	worse := a - b
	if row.HigherIsBetter {
		worse = b - a
	}
	switch {
	case worse <= 0 || (b != 0 && worse <= tolerance*b):
		row.Verdict = reports.ComparisonOK
	case worse <= row.Floor:
		row.Verdict = reports.ComparisonUnderFloor
		row.Detail = "worse by " + fmtValue(worse, row.Unit) + ", under the floor of " + fmtValue(row.Floor, row.Unit)
	default:
		row.Verdict = reports.ComparisonRegression
		row.Detail = regressionText(*row)
	}
}

// regressionText names the metric, both values, the change and what was
// allowed: "latency_p95 12ms -> 340ms (+2733.3%), beyond the 25%
// tolerance and the 50ms floor".
func regressionText(r reports.ComparisonRow) string {
	s := fmt.Sprintf("%s %s -> %s", r.Metric, fmtValue(*r.Baseline, r.Unit), fmtValue(*r.After, r.Unit))
	if r.ChangePct != nil {
		s += fmt.Sprintf(" (%+.1f%%)", *r.ChangePct)
	}
	return s + fmt.Sprintf(", beyond the %g%% tolerance and the %s floor", r.TolerancePct, fmtValue(r.Floor, r.Unit))
}

// fmtValue renders a metric's value in its unit for a detail line.
func fmtValue(v float64, unit string) string {
	switch unit {
	case "seconds":
		return time.Duration(v * float64(time.Second)).Round(100 * time.Microsecond).String()
	case "req/s":
		return fmt.Sprintf("%.2f req/s", v)
	case "ratio":
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v*100), "0"), ".") + "%"
	}
	return fmt.Sprintf("%g", v)
}

// regressions lists the rows that regressed.
func regressions(rows []reports.ComparisonRow) []reports.ComparisonRow {
	var out []reports.ComparisonRow
	for _, r := range rows {
		if r.Verdict == reports.ComparisonRegression {
			out = append(out, r)
		}
	}
	return out
}
