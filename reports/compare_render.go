package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"strconv"
)

// Markdown renders the comparison: the runs, any warning, one row per
// metric with its test, and the overall verdict with its reason.
func (c Comparison) Markdown() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Before: %s\nAfter:  %s\n\n", c.Before, c.After)
	for _, w := range c.Warnings {
		fmt.Fprintf(&b, "WARNING: %s\n", w)
	}
	if len(c.Warnings) > 0 {
		b.WriteString("\n")
	}
	var rows [][]string
	for _, d := range c.Deltas {
		rel, change := "-", "-"
		if d.Before != nil && d.After != nil {
			change = signed(d.Change, d.Unit)
			if *d.Before != 0 {
				rel = fmt.Sprintf("%+.1f%%", d.Relative*100)
			}
		}
		p, shift := "-", "-"
		if d.PValue != nil {
			p = fmtP(*d.PValue)
		}
		if d.Shift != nil {
			shift = fmt.Sprintf("%s [%s, %s]", signed(d.Shift.Estimate, d.Unit), signed(d.Shift.Low, d.Unit), signed(d.Shift.High, d.Unit))
		}
		verdict := d.Verdict
		if d.Rule.Critical {
			verdict += " (critical)"
		}
		rows = append(rows, []string{d.Metric, fmtOptDelta(d.Before, d.Unit, d.Missing), fmtOptDelta(d.After, d.Unit, d.Missing),
			change, rel, cmp.Or(d.Test, "-"), p, shift, verdict, cmp.Or(d.Note, d.Missing)})
	}
	mdTable(&b, []string{"Metric", "Before", "After", "Change", "Relative", "Test", "p", "Shift [interval]", "Verdict", "Why"}, rows)
	fmt.Fprintf(&b, "\nVerdict: %s: %s (alpha %g; a metric is worse or better only when its change is significant and beyond its tolerance).\n", c.Verdict, c.Reason, c.Alpha)
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
