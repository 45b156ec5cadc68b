package reports

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// SVG geometry of the timeline, before the fault label lanes push the
// charts down (timelineScale.dy).
const (
	svgW      = 1000.0
	svgH      = 330.0
	padL      = 64.0
	padR      = 20.0
	latTop    = 28.0
	latBottom = 150.0
	sucTop    = 178.0
	sucBottom = 290.0
	// laneH is the height of one lane of fault labels; labelTop is the
	// baseline of the first.
	laneH    = 12.0
	labelTop = latTop - 4
	// labelCharW bounds the advance of a lower-case letter, digit or
	// punctuation of the 10 px sans-serif labels (DejaVu Sans: at most
	// 6.4 px for most, 5.3 px on average), labelWideW that of M, W, m, w
	// and capitals; labelGap keeps neighbours apart.
	labelCharW = 6.4
	labelWideW = 10.0
	labelGap   = 8.0
	// labelMaxRunes bounds a label's length.
	labelMaxRunes = 34
)

// TimelineSVG renders the timeline as an inline SVG: p95 latency on top,
// success ratio below, fault windows shaded and outages marked. The fault
// labels sit in lanes above the charts, so labels of adjacent faults never
// overlap.
func TimelineSVG(r *Report) string {
	sc := newTimelineScale(r)
	labels := sc.layoutLabels(r.Timeline.Faults)
	sc.dy = float64(max(laneCount(labels)-1, 0)) * laneH
	h := svgH + sc.dy
	var s strings.Builder
	fmt.Fprintf(&s, `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" role="img" aria-label="timeline of latency and success ratio" font-family="sans-serif" font-size="11">`, svgW, h)
	fmt.Fprintf(&s, `<rect x="0" y="0" width="%g" height="%g" fill="#fff"/>`, svgW, h)
	sc.faults(&s, r.Timeline.Faults, labels) // behind everything
	sc.outages(&s, r.Outages)
	sc.axes(&s)
	sc.events(&s, r.Timeline.Events)
	sc.series(&s, r.Timeline)
	fmt.Fprintf(&s, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="#8a93a3"/>`, padL, padL, latTop+sc.dy, sucBottom+sc.dy)
	s.WriteString(`</svg>`)
	return s.String()
}

// timelineScale maps the run's times and values to SVG coordinates.
type timelineScale struct {
	t0     time.Time
	span   float64 // seconds shown, > 0
	maxLat float64 // seconds at the top of the latency axis
	dy     float64 // how far the label lanes push the charts down
}

// newTimelineScale spans the run and every bucket, and tops the latency
// axis at a round value above the largest p95.
func newTimelineScale(r *Report) timelineScale {
	t0, t1 := r.StartedAt, r.FinishedAt
	for _, b := range r.Timeline.Buckets {
		if t0.IsZero() || b.T.Before(t0) {
			t0 = b.T
		}
		end := b.T.Add(time.Duration(r.Timeline.BucketSeconds * float64(time.Second)))
		if t1.IsZero() || end.After(t1) {
			t1 = end
		}
	}
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	maxLat := 0.0
	for _, b := range r.Timeline.Buckets {
		maxLat = math.Max(maxLat, b.P95)
	}
	return timelineScale{t0: t0, span: span, maxLat: niceCeil(maxLat)}
}

func (sc timelineScale) x(t time.Time) float64 {
	f := t.Sub(sc.t0).Seconds() / sc.span
	return padL + math.Max(0, math.Min(1, f))*(svgW-padL-padR)
}

func (sc timelineScale) yLat(v float64) float64 {
	return sc.dy + latBottom - v/sc.maxLat*(latBottom-latTop)
}

func (sc timelineScale) ySuc(v float64) float64 { return sc.dy + sucBottom - v*(sucBottom-sucTop) }

// faultLabel is where one fault's label goes: its text, its left edge, an
// upper bound of its width and its lane (0 is the top one).
type faultLabel struct {
	text string
	x, w float64
	lane int
}

// layoutLabels places each fault's label at its window's start (kept
// inside the chart) in the first lane where it clears every label already
// there by labelGap, taking the faults in time order: greedy interval
// colouring, so no two labels of a lane overlap.
func (sc timelineScale) layoutLabels(faults []FaultWindow) []faultLabel {
	labels := make([]faultLabel, len(faults))
	order := make([]int, len(faults))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return faults[order[a]].Start.Before(faults[order[b]].Start) })
	var laneEnd []float64 // right edge of the last label of each lane
	for _, i := range order {
		f := faults[i]
		text := truncate(strings.TrimSpace(f.Kind+" "+f.Target), labelMaxRunes)
		w := labelWidth(text)
		x := math.Min(sc.x(f.Start)+2, svgW-padR-w)
		x = math.Max(x, 0)
		lane := 0
		for lane < len(laneEnd) && x < laneEnd[lane]+labelGap {
			lane++
		}
		if lane == len(laneEnd) {
			laneEnd = append(laneEnd, 0)
		}
		laneEnd[lane] = x + w
		labels[i] = faultLabel{text: text, x: x, w: w, lane: lane}
	}
	return labels
}

// labelWidth bounds the width of a label's text.
func labelWidth(text string) float64 {
	w := 0.0
	for _, c := range text {
		switch {
		case unicode.IsUpper(c), c == 'm', c == 'w':
			w += labelWideW
		default:
			w += labelCharW
		}
	}
	return w
}

// laneCount is how many lanes the labels use.
func laneCount(labels []faultLabel) int {
	n := 0
	for _, l := range labels {
		n = max(n, l.lane+1)
	}
	return n
}

// faults shades the fault windows across both charts and writes their
// labels in their lanes, each with a leader down to its window. The labels
// come last, with a white halo, so no leader runs through one.
func (sc timelineScale) faults(s *strings.Builder, faults []FaultWindow, labels []faultLabel) {
	for i, f := range faults {
		x0, x1 := sc.x(f.Start), sc.x(f.End)
		fmt.Fprintf(s, `<rect class="fault" x="%.1f" y="%g" width="%.1f" height="%g" fill="#e8a33d" fill-opacity="0.25"><title>%s</title></rect>`,
			x0, latTop+sc.dy, math.Max(1, x1-x0), sucBottom-latTop, esc(f.Step+": "+f.Kind+" on "+f.Target))
		if y := labelTop + float64(labels[i].lane)*laneH; y+4 < latTop+sc.dy {
			fmt.Fprintf(s, `<line class="fault-leader" x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#e8a33d" stroke-width="0.8"/>`, x0, x0, y, latTop+sc.dy)
		}
	}
	for _, l := range labels {
		fmt.Fprintf(s, `<text class="fault-label" x="%.1f" y="%g" fill="#9a5b00" font-size="10" stroke="#fff" stroke-width="3" paint-order="stroke">%s</text>`,
			l.x, labelTop+float64(l.lane)*laneH, esc(l.text))
	}
}

// outages shades the outages on the success chart and bars them below it.
func (sc timelineScale) outages(s *strings.Builder, outages []Outage) {
	for _, o := range outages {
		x0, x1 := sc.x(o.Start), sc.x(o.End)
		fmt.Fprintf(s, `<rect class="outage" x="%.1f" y="%g" width="%.1f" height="%g" fill="#d93025" fill-opacity="0.12"/>`, x0, sucTop+sc.dy, math.Max(1, x1-x0), sucBottom-sucTop)
		fmt.Fprintf(s, `<rect class="outage-bar" x="%.1f" y="%g" width="%.1f" height="6" fill="#d93025"><title>outage %s (%s)</title></rect>`,
			x0, sucBottom+sc.dy+3, math.Max(2, x1-x0), esc(fmtSeconds(o.DurationSeconds)), esc(o.Cause))
	}
}

// axes draws the grid, the value labels, the chart titles and the time ticks.
func (sc timelineScale) axes(s *strings.Builder) {
	for _, v := range []float64{0, 0.5, 1} {
		y := sc.yLat(v * sc.maxLat)
		fmt.Fprintf(s, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#e1e4ea"/>`, padL, svgW-padR, y, y)
		fmt.Fprintf(s, `<text x="%g" y="%.1f" text-anchor="end" fill="#5b6475">%s</text>`, padL-6, y+4, esc(axisSeconds(v*sc.maxLat)))
		y = sc.ySuc(v)
		fmt.Fprintf(s, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#e1e4ea"/>`, padL, svgW-padR, y, y)
		fmt.Fprintf(s, `<text x="%g" y="%.1f" text-anchor="end" fill="#5b6475">%g%%</text>`, padL-6, y+4, v*100)
	}
	fmt.Fprintf(s, `<text x="%g" y="14" fill="#1a73e8" font-weight="600">p95 latency</text>`, padL)
	fmt.Fprintf(s, `<text x="%g" y="%g" fill="#137333" font-weight="600">success ratio</text>`, padL, sucTop+sc.dy-8)
	step := niceStep(sc.span)
	bottom := sucBottom + sc.dy
	for v := 0.0; v <= sc.span+1e-9; v += step {
		xx := padL + v/sc.span*(svgW-padL-padR)
		fmt.Fprintf(s, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#c4c9d2"/>`, xx, xx, bottom+10, bottom+14)
		fmt.Fprintf(s, `<text x="%.1f" y="%g" text-anchor="middle" fill="#5b6475">%gs</text>`, xx, bottom+26, math.Round(v*10)/10)
	}
}

// events marks the events as thin dashed lines.
func (sc timelineScale) events(s *strings.Builder, events []TimelineEvent) {
	for _, e := range events {
		xx := sc.x(e.At)
		fmt.Fprintf(s, `<line class="event" x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#6b7280" stroke-dasharray="2,3" stroke-width="0.8"><title>%s</title></line>`,
			xx, xx, latTop+sc.dy, sucBottom+sc.dy, esc(strings.TrimSpace(e.Kind+" "+e.Step+" "+e.Detail)))
	}
}

// series draws the p95 latency and success ratio lines through the bucket
// centres, or says that there are none.
func (sc timelineScale) series(s *strings.Builder, tl Timeline) {
	if len(tl.Buckets) == 0 {
		fmt.Fprintf(s, `<text x="%g" y="%g" text-anchor="middle" fill="#5b6475">no probe results recorded</text>`, svgW/2, sc.dy+(latTop+sucBottom)/2)
		return
	}
	half := time.Duration(tl.BucketSeconds * float64(time.Second) / 2)
	var lat, suc strings.Builder
	for i, b := range tl.Buckets {
		xx := sc.x(b.T.Add(half))
		sep := " "
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(&lat, "%s%.1f,%.1f", sep, xx, sc.yLat(b.P95))
		fmt.Fprintf(&suc, "%s%.1f,%.1f", sep, xx, sc.ySuc(clamp01(b.Success)))
	}
	fmt.Fprintf(s, `<polyline class="latency" fill="none" stroke="#1a73e8" stroke-width="1.6" points="%s"/>`, lat.String())
	fmt.Fprintf(s, `<polyline class="success" fill="none" stroke="#137333" stroke-width="1.6" points="%s"/>`, suc.String())
}

// axisSeconds labels a latency axis tick compactly: 0, 250ms, 2.5s.
func axisSeconds(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return strconv.FormatFloat(v*1000, 'g', 4, 64) + "ms"
	default:
		return strconv.FormatFloat(v, 'g', 4, 64) + "s"
	}
}

func esc(s string) string { return html.EscapeString(s) }

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

// truncate cuts s to at most n runes, marking a cut with an ellipsis.
func truncate(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return string(rs[:n-1]) + "…"
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1 ms).
func niceCeil(v float64) float64 {
	if v <= 0.001 {
		return 0.001
	}
	return roundUp125(v)
}

// niceStep picks an axis tick step giving about 8 ticks over span seconds.
func niceStep(span float64) float64 { return roundUp125(span / 8) }

// roundUp125 rounds v > 0 up to 1, 2 or 5 times a power of ten.
func roundUp125(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
