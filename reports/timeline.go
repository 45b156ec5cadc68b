package reports

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"
)

// SVG geometry of the timeline.
const (
	svgW      = 1000.0
	svgH      = 330.0
	padL      = 64.0
	padR      = 20.0
	latTop    = 28.0
	latBottom = 150.0
	sucTop    = 178.0
	sucBottom = 290.0
)

// TimelineSVG renders the timeline as an inline SVG: p95 latency on top,
// success ratio below, fault windows shaded and outages marked.
func TimelineSVG(r *Report) string {
	sc := newTimelineScale(r)
	var s strings.Builder
	fmt.Fprintf(&s, `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" role="img" aria-label="timeline of latency and success ratio" font-family="sans-serif" font-size="11">`, svgW, svgH)
	s.WriteString(`<rect x="0" y="0" width="1000" height="330" fill="#fff"/>`)
	sc.faults(&s, r.Timeline.Faults) // behind everything
	sc.outages(&s, r.Outages)
	sc.axes(&s)
	sc.events(&s, r.Timeline.Events)
	sc.series(&s, r.Timeline)
	fmt.Fprintf(&s, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="#8a93a3"/>`, padL, padL, latTop, sucBottom)
	s.WriteString(`</svg>`)
	return s.String()
}

// timelineScale maps the run's times and values to SVG coordinates.
type timelineScale struct {
	t0     time.Time
	span   float64 // seconds shown, > 0
	maxLat float64 // seconds at the top of the latency axis
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
	return latBottom - v/sc.maxLat*(latBottom-latTop)
}

func (sc timelineScale) ySuc(v float64) float64 { return sucBottom - v*(sucBottom-sucTop) }

// faults shades the fault windows across both charts.
func (sc timelineScale) faults(s *strings.Builder, faults []FaultWindow) {
	for _, f := range faults {
		x0, x1 := sc.x(f.Start), sc.x(f.End)
		fmt.Fprintf(s, `<rect class="fault" x="%.1f" y="%g" width="%.1f" height="%g" fill="#e8a33d" fill-opacity="0.25"><title>%s</title></rect>`,
			x0, latTop, math.Max(1, x1-x0), sucBottom-latTop, esc(f.Step+": "+f.Kind+" on "+f.Target))
		fmt.Fprintf(s, `<text x="%.1f" y="%g" fill="#9a5b00" font-size="10">%s</text>`, x0+2, latTop-4, esc(truncate(f.Kind, 22)))
	}
}

// outages shades the outages on the success chart and bars them below it.
func (sc timelineScale) outages(s *strings.Builder, outages []Outage) {
	for _, o := range outages {
		x0, x1 := sc.x(o.Start), sc.x(o.End)
		fmt.Fprintf(s, `<rect class="outage" x="%.1f" y="%g" width="%.1f" height="%g" fill="#d93025" fill-opacity="0.12"/>`, x0, sucTop, math.Max(1, x1-x0), sucBottom-sucTop)
		fmt.Fprintf(s, `<rect class="outage-bar" x="%.1f" y="%g" width="%.1f" height="6" fill="#d93025"><title>outage %s (%s)</title></rect>`,
			x0, sucBottom+3, math.Max(2, x1-x0), esc(fmtSeconds(o.DurationSeconds)), esc(o.Cause))
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
	fmt.Fprintf(s, `<text x="%g" y="%g" fill="#137333" font-weight="600">success ratio</text>`, padL, sucTop-8)
	step := niceStep(sc.span)
	for v := 0.0; v <= sc.span+1e-9; v += step {
		xx := padL + v/sc.span*(svgW-padL-padR)
		fmt.Fprintf(s, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#c4c9d2"/>`, xx, xx, sucBottom+10, sucBottom+14)
		fmt.Fprintf(s, `<text x="%.1f" y="%g" text-anchor="middle" fill="#5b6475">%gs</text>`, xx, sucBottom+26, math.Round(v*10)/10)
	}
}

// events marks the events as thin dashed lines.
func (sc timelineScale) events(s *strings.Builder, events []TimelineEvent) {
	for _, e := range events {
		xx := sc.x(e.At)
		fmt.Fprintf(s, `<line class="event" x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#6b7280" stroke-dasharray="2,3" stroke-width="0.8"><title>%s</title></line>`,
			xx, xx, latTop, sucBottom, esc(strings.TrimSpace(e.Kind+" "+e.Step+" "+e.Detail)))
	}
}

// series draws the p95 latency and success ratio lines through the bucket
// centres, or says that there are none.
func (sc timelineScale) series(s *strings.Builder, tl Timeline) {
	if len(tl.Buckets) == 0 {
		fmt.Fprintf(s, `<text x="%g" y="%g" text-anchor="middle" fill="#5b6475">no probe results recorded</text>`, svgW/2, (latTop+sucBottom)/2)
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
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
