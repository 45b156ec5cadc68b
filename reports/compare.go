package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"strconv"
	"time"
)

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
