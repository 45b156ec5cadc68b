package reports

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// HTML renders r as report.html: one self-contained page (inline CSS and
// SVG, no scripts, no external assets) for customers and engineers.
func HTML(r *Report) ([]byte, error) {
	type table struct {
		Title string
		Head  []string
		Rows  [][]string
		Empty string
	}
	var tables []table
	add := func(title string, head []string, rows [][]string, empty string) {
		if len(rows) > 0 || empty != "" {
			tables = append(tables, table{title, head, rows, empty})
		}
	}
	add("SLOs", sloHeader, sloRows(r.SLO), "No SLOs were set.")
	if len(r.SLOPrometheus) > 0 {
		add("SLOs as Prometheus saw them", sloHeader, sloRows(r.SLOPrometheus), "")
	}
	add("Steps", stepHeader, stepRows(r), "No steps ran.")
	add("Outages", outageHeader, outageRows(r), "No outages.")
	add("Recovery phases", []string{"Phase", "Seconds"}, phaseRows(r.MTTRPhases), "")
	if r.DR != nil {
		add("Disaster recovery", []string{"Measure", "Value"}, drRows(r.DR), "")
		add("RTO phases", []string{"Phase", "Seconds"}, phaseRows(r.DR.Phases), "")
	}
	add("Rollouts", rolloutHeader, rolloutRows(r.Rollouts), "")
	add("Alerts", alertHeader, alertRows(r.Alerts), "")
	if r.K6 != nil {
		add("k6", []string{"Metric", "Values"}, k6Rows(r.K6), "")
	}
	add("Services (versions before and after)", serviceHeader, serviceRows(r.Services), "")
	add("Environment and capabilities", []string{"Item", "Value"}, envRows(r), "")
	var notes [][]string
	for _, n := range r.Capabilities.Notes {
		notes = append(notes, []string{n})
	}
	add("Capability notes (fallbacks and what they mean)", []string{"Note"}, notes, "")
	data := struct {
		R        *Report
		Verdict  string
		Headline [][]string
		Timeline template.HTML
		Tables   []table
		Started  string
		Finished string
		Duration string
	}{r, strings.ToUpper(string(r.Verdict)), headline(r), template.HTML(TimelineSVG(r)), tables,
		fmtTime(r.StartedAt), fmtTime(r.FinishedAt), fmtSeconds(r.DurationSeconds())}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Drill report: {{.R.Plan}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
.sub{color:#5b6475;margin:0 0 16px}
.badges{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0 4px}
.badge{border-radius:6px;padding:10px 16px;background:#fff;border:1px solid #d8dce3;min-width:110px}
.badge b{display:block;font-size:22px}
.badge span{color:#5b6475;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.v-pass b{color:#137333}.v-fail b,.v-error b,.v-aborted b{color:#b3261e}
.reason{background:#fff4e5;border-left:4px solid #e8a33d;padding:8px 12px;margin:12px 0}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #e1e4ea;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}
td.bad{color:#b3261e;font-weight:600}
.chart{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:8px}
.chart svg{width:100%;height:auto;display:block}
.legend{font-size:12px;color:#5b6475;margin:6px 4px 0}
.legend i{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
footer{color:#8a93a3;font-size:12px;margin-top:32px}
</style>
</head>
<body>
<main>
<h1>Drill report: {{.R.Plan}}</h1>
<p class="sub">{{if .R.Description}}{{.R.Description}} · {{end}}{{.Started}} → {{.Finished}} ({{.Duration}})</p>
<div class="badges">
<div class="badge v-{{.R.Verdict}}"><span>Verdict</span><b>{{.Verdict}}</b></div>
<div class="badge"><span>Grade</span><b>{{.R.Grade}}</b></div>
{{range .Headline}}<div class="badge"><span>{{index . 0}}</span><b style="font-size:15px">{{index . 1}}</b></div>
{{end}}</div>
{{if .R.VerdictReason}}<p class="reason">{{.R.VerdictReason}}</p>{{end}}
<h2>Timeline</h2>
<div class="chart">{{.Timeline}}
<div class="legend"><i style="background:#1a73e8"></i>p95 latency<i style="background:#137333"></i>success ratio<i style="background:rgba(232,163,61,.35)"></i>fault in force<i style="background:#d93025"></i>outage</div>
</div>
{{range .Tables}}<h2>{{.Title}}</h2>
{{if .Rows}}<table>
<thead><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td{{if or (eq . "NO") (eq . "failed") (eq . "error") (eq . "DIFFERENT") (eq . "NOT FIRED")}} class="bad"{{end}}>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>{{else}}<p>{{.Empty}}</p>{{end}}
{{end}}
<footer>aiuptime drill report · schema {{.R.SchemaVersion}}{{if .R.RunID}} · run {{.R.RunID}}{{end}}{{if .R.Environment.ToolVersion}} · drill {{.R.Environment.ToolVersion}}{{end}}</footer>
</main>
</body>
</html>
`))

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
	x := func(t time.Time) float64 {
		f := t.Sub(t0).Seconds() / span
		return padL + math.Max(0, math.Min(1, f))*(svgW-padL-padR)
	}
	maxLat := 0.0
	for _, b := range r.Timeline.Buckets {
		maxLat = math.Max(maxLat, b.P95)
	}
	maxLat = niceCeil(maxLat)
	yLat := func(v float64) float64 { return latBottom - v/maxLat*(latBottom-latTop) }
	ySuc := func(v float64) float64 { return sucBottom - v*(sucBottom-sucTop) }

	var s strings.Builder
	fmt.Fprintf(&s, `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" role="img" aria-label="timeline of latency and success ratio" font-family="sans-serif" font-size="11">`, svgW, svgH)
	s.WriteString(`<rect x="0" y="0" width="1000" height="330" fill="#fff"/>`)
	// Fault windows, behind everything.
	for _, f := range r.Timeline.Faults {
		x0, x1 := x(f.Start), x(f.End)
		fmt.Fprintf(&s, `<rect class="fault" x="%.1f" y="%g" width="%.1f" height="%g" fill="#e8a33d" fill-opacity="0.25"><title>%s</title></rect>`,
			x0, latTop, math.Max(1, x1-x0), sucBottom-latTop, esc(f.Step+": "+f.Kind+" on "+f.Target))
		fmt.Fprintf(&s, `<text x="%.1f" y="%g" fill="#9a5b00" font-size="10">%s</text>`, x0+2, latTop-4, esc(truncate(f.Kind, 22)))
	}
	// Outages.
	for _, o := range r.Outages {
		x0, x1 := x(o.Start), x(o.End)
		fmt.Fprintf(&s, `<rect class="outage" x="%.1f" y="%g" width="%.1f" height="%g" fill="#d93025" fill-opacity="0.12"/>`, x0, sucTop, math.Max(1, x1-x0), sucBottom-sucTop)
		fmt.Fprintf(&s, `<rect class="outage-bar" x="%.1f" y="%g" width="%.1f" height="6" fill="#d93025"><title>outage %s (%s)</title></rect>`,
			x0, sucBottom+3, math.Max(2, x1-x0), esc(fmtSeconds(o.DurationSeconds)), esc(o.Cause))
	}
	// Axes and grid.
	for _, v := range []float64{0, 0.5, 1} {
		y := yLat(v * maxLat)
		fmt.Fprintf(&s, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#e1e4ea"/>`, padL, svgW-padR, y, y)
		fmt.Fprintf(&s, `<text x="%g" y="%.1f" text-anchor="end" fill="#5b6475">%s</text>`, padL-6, y+4, esc(axisSeconds(v*maxLat)))
		y = ySuc(v)
		fmt.Fprintf(&s, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#e1e4ea"/>`, padL, svgW-padR, y, y)
		fmt.Fprintf(&s, `<text x="%g" y="%.1f" text-anchor="end" fill="#5b6475">%g%%</text>`, padL-6, y+4, v*100)
	}
	fmt.Fprintf(&s, `<text x="%g" y="14" fill="#1a73e8" font-weight="600">p95 latency</text>`, padL)
	fmt.Fprintf(&s, `<text x="%g" y="%g" fill="#137333" font-weight="600">success ratio</text>`, padL, sucTop-8)
	step := niceStep(span)
	for v := 0.0; v <= span+1e-9; v += step {
		xx := padL + v/span*(svgW-padL-padR)
		fmt.Fprintf(&s, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#c4c9d2"/>`, xx, xx, sucBottom+10, sucBottom+14)
		fmt.Fprintf(&s, `<text x="%.1f" y="%g" text-anchor="middle" fill="#5b6475">%gs</text>`, xx, sucBottom+26, math.Round(v*10)/10)
	}
	// Events as thin dashed markers.
	for _, e := range r.Timeline.Events {
		xx := x(e.At)
		fmt.Fprintf(&s, `<line class="event" x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#6b7280" stroke-dasharray="2,3" stroke-width="0.8"><title>%s</title></line>`,
			xx, xx, latTop, sucBottom, esc(strings.TrimSpace(e.Kind+" "+e.Step+" "+e.Detail)))
	}
	// Series.
	if n := len(r.Timeline.Buckets); n > 0 {
		half := time.Duration(r.Timeline.BucketSeconds * float64(time.Second) / 2)
		var lat, suc strings.Builder
		for i, b := range r.Timeline.Buckets {
			xx := x(b.T.Add(half))
			sep := " "
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(&lat, "%s%.1f,%.1f", sep, xx, yLat(b.P95))
			fmt.Fprintf(&suc, "%s%.1f,%.1f", sep, xx, ySuc(clamp01(b.Success)))
		}
		fmt.Fprintf(&s, `<polyline class="latency" fill="none" stroke="#1a73e8" stroke-width="1.6" points="%s"/>`, lat.String())
		fmt.Fprintf(&s, `<polyline class="success" fill="none" stroke="#137333" stroke-width="1.6" points="%s"/>`, suc.String())
	} else {
		fmt.Fprintf(&s, `<text x="%g" y="%g" text-anchor="middle" fill="#5b6475">no probe results recorded</text>`, svgW/2, (latTop+sucBottom)/2)
	}
	fmt.Fprintf(&s, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="#8a93a3"/>`, padL, padL, latTop, sucBottom)
	s.WriteString(`</svg>`)
	return s.String()
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
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// niceStep picks an axis tick step giving about 8 ticks over span seconds.
func niceStep(span float64) float64 {
	raw := span / 8
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}
