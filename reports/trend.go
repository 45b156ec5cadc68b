package reports

import (
	"bytes"
	"sort"
	"strconv"
	"time"
)

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
