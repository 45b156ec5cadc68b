package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// TrendLink is a file written beside trend.html that the page links to
// (the maintenance stub, its notice, its schedules), by a path relative to
// the page.
type TrendLink struct {
	Name string
	Href string
}

// HTML renders t as trend.html: one self-contained page (inline CSS and
// SVG, no scripts, no external assets) with a small chart per fitted
// metric (the runs, the fit, its confidence band, the threshold and the
// predicted crossing), the skipped metrics with their reasons, and the
// preventive maintenance suggested. links are listed under the
// maintenance, by relative paths.
func (t *TrendReport) HTML(links ...TrendLink) ([]byte, error) {
	type chart struct {
		Metric, Unit string
		SVG          template.HTML
		Words        string
	}
	type skipped struct{ Metric, Reason string }
	data := struct {
		T         *TrendReport
		Sub       string
		Charts    []chart
		Skipped   []skipped
		Runs      [][]string
		Rule      string
		Suggested [][]string
		None      string
		Links     []TrendLink
	}{T: t, Sub: trendSubtitle(t), Rule: MaintenanceRule, Links: links}
	for i := range t.Metrics {
		m := &t.Metrics[i]
		if m.Skipped != "" || m.Method == "" {
			skipped := skipped{m.Metric, m.Skipped}
			if skipped.Reason == "" {
				skipped.Reason = "not fitted"
			}
			data.Skipped = append(data.Skipped, skipped)
			continue
		}
		words := TrendWords(m, t.Level)
		data.Charts = append(data.Charts, chart{m.Metric, m.Unit, template.HTML(trendSVG(t, m, i, words)), words})
	}
	for _, r := range t.Runs {
		data.Runs = append(data.Runs, []string{trDate(r.StartedAt, true), r.RunID})
	}
	for _, s := range t.Suggestions {
		data.Suggested = append(data.Suggested, []string{s.Priority, s.Metric, trPct(s.Confidence),
			trDate(s.Before, false), orDash(s.Window), s.Reason})
	}
	if len(t.Suggestions) == 0 {
		data.None = NoMaintenanceWords(t)
	}
	var b bytes.Buffer
	if err := trendPage.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("render trend html: %w", err)
	}
	return b.Bytes(), nil
}

// MaintenanceRule is the rule preventive maintenance follows, in words.
var MaintenanceRule = fmt.Sprintf("Preventive maintenance is suggested for a metric whose fit is predicted to cross its threshold: "+
	"scheduled when the trend's confidence is above %.0f %%, with high priority above %.0f %%.",
	MaintenanceScheduled*100, MaintenanceHighPriority*100)

// NoMaintenanceWords says why t suggests no maintenance: no metric heads to
// a threshold, or the ones that do are not sure enough (each named with its
// confidence).
func NoMaintenanceWords(t *TrendReport) string {
	var weak []string
	for _, m := range t.Metrics {
		if m.Crossing != nil {
			weak = append(weak, fmt.Sprintf("%s (crossing %s, confidence %s)", m.Metric, trDate(m.Crossing.At, false), trPct(m.Crossing.Confidence)))
		}
	}
	if len(weak) == 0 {
		return "None suggested: no metric is heading to a threshold."
	}
	return fmt.Sprintf("None suggested: no metric is heading to a threshold with a confidence above %.0f %%. Heading there with less: %s.",
		MaintenanceScheduled*100, strings.Join(weak, "; "))
}

// TrendWords is the fit of m in one paragraph: the slope per day with its
// interval at level, R², direction, confidence and the crossing.
func TrendWords(m *MetricTrend, level float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Slope %s/day (%.0f %% interval %s to %s), R² %.2f, %s, confidence of worsening %s (%s, %d runs). ",
		trSigned(m.SlopePerDay, m.Unit), level*100, trSigned(m.SlopeLowPerDay, m.Unit), trSigned(m.SlopeHighPerDay, m.Unit),
		m.R2, orDash(m.Direction), trPct(m.Confidence), m.Method, len(m.Points))
	b.WriteString(crossingWords(m))
	return b.String()
}

// crossingWords says where m stands against its threshold.
func crossingWords(m *MetricTrend) string {
	if m.Threshold == nil {
		return "No threshold set: no crossing predicted."
	}
	th := trValue(*m.Threshold, m.Unit)
	c := m.Crossing
	switch {
	case c == nil:
		return fmt.Sprintf("Threshold %s: not heading there (fit at the newest run %s).", th, trValue(m.Latest, m.Unit))
	case c.Crossed:
		return fmt.Sprintf("Threshold %s: already crossed (fit at the newest run %s), since about %s.", th, trValue(m.Latest, m.Unit), trDate(c.At, false))
	}
	latest := "never, at the interval's other end"
	if c.Latest != nil {
		latest = trDate(*c.Latest, false)
	}
	return fmt.Sprintf("Threshold %s: crossing predicted %s (earliest %s, latest %s), confidence %s.",
		th, trDate(c.At, false), trDate(c.Earliest, false), latest, trPct(c.Confidence))
}

func trendSubtitle(t *TrendReport) string {
	var parts []string
	if t.Stack != "" {
		parts = append(parts, "stack "+t.Stack)
	}
	parts = append(parts, fmt.Sprintf("%d runs from %s to %s", len(t.Runs), trDate(t.From, true), trDate(t.To, true)),
		fmt.Sprintf("slopes at %.0f %% confidence", t.Level*100))
	if !t.Now.IsZero() {
		parts = append(parts, "as of "+trDate(t.Now, true))
	}
	return strings.Join(parts, " · ")
}

// trDate is t in UTC, a date or a date and time; "-" when zero.
func trDate(t time.Time, clock bool) string {
	switch {
	case t.IsZero():
		return "-"
	case clock:
		return t.UTC().Format("2006-01-02 15:04 UTC")
	}
	return t.UTC().Format("2006-01-02")
}

// trPct is a 0..1 fraction in whole percent, with a decimal where
// rounding would claim 0 % or 100 %, and "over 99.9 %" ("under 0.1 %")
// where even a decimal would.
func trPct(v float64) string {
	s := fmt.Sprintf("%.0f", v*100)
	if (s == "100" && v < 1) || (s == "0" && v > 0) {
		s = fmt.Sprintf("%.1f", v*100)
	}
	switch {
	case s == "100.0" && v < 1:
		return "over 99.9 %"
	case s == "0.0" && v > 0:
		return "under 0.1 %"
	}
	return s + " %"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// trScale is how a metric's unit is shown: ms for seconds, % for ratios
// (percentage points for their changes), plain for counts.
func trScale(unit string) (factor float64, suffix, delta string) {
	switch unit {
	case "seconds":
		return 1000, " ms", " ms"
	case "ratio":
		return 100, " %", " pp"
	}
	return 1, "", ""
}

// trValue is v in unit's display with four significant digits (seconds
// from 10 s up in s, below in ms).
func trValue(v float64, unit string) string {
	f, suffix, _ := trScale(unit)
	if unit == "seconds" && math.Abs(v) >= 10 {
		f, suffix = 1, " s"
	}
	return trNum(v*f, 4) + suffix
}

// trSigned is a change per day with its sign.
func trSigned(v float64, unit string) string {
	f, _, suffix := trScale(unit)
	s := trNum(v*f, 3)
	if v >= 0 {
		s = "+" + s
	}
	return s + suffix
}

// trNum formats v with about sig significant digits, never in exponent form.
func trNum(v float64, sig int) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	d := sig - 1 - int(math.Floor(math.Log10(math.Abs(v))))
	return strconv.FormatFloat(v, 'f', min(max(d, 0), 9), 64)
}

var trendPage = template.Must(template.New("trend").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>Trend: {{.T.Plan}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
h3{font-size:14px;margin:0 0 6px}
.sub{color:#5b6475;margin:0 0 16px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:14px}
.chart{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:8px}
.chart svg{width:100%;height:auto;display:block}
.chart p{font-size:12.5px;color:#1d2330;margin:6px 4px 2px;line-height:1.4}
.legend{font-size:12px;color:#5b6475;margin:6px 4px 0}
.legend i{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #e1e4ea;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}
td.high{color:#b3261e;font-weight:600}
td.date{white-space:nowrap}
.rule{background:#fff4e5;border-left:4px solid #e8a33d;padding:8px 12px;margin:8px 0}
footer{color:#8a93a3;font-size:12px;margin-top:32px}
@page{size:A4;margin:9mm 9mm}
@media print{body{background:#fff;font-size:8pt}main{max-width:none;padding:0}.charts{display:block}.chart{break-inside:avoid;border:none;padding:0;margin-bottom:6pt}}
</style>
</head>
<body>
<main>
<h1>Trend: {{.T.Plan}}</h1>
<p class="sub">{{.Sub}}</p>
<h2>Metrics</h2>
{{if .Charts}}<div class="legend"><i style="background:#1a73e8"></i>runs and fit<i style="background:rgba(26,115,232,.18)"></i>confidence band<i style="background:#d93025"></i>threshold<i style="background:rgba(232,163,61,.35)"></i>predicted crossing (earliest to latest)</div>
<div class="charts">
{{range .Charts}}<div class="chart"><h3>{{.Metric}} ({{.Unit}})</h3>
{{.SVG}}
<p>{{.Words}}</p>
</div>
{{end}}</div>
{{else}}<p>No metric could be fitted.</p>
{{end}}{{if .Skipped}}<h2>Not fitted</h2>
<ul>{{range .Skipped}}<li>{{.Metric}}: {{.Reason}}</li>
{{end}}</ul>
{{end}}<h2>Preventive maintenance</h2>
<p class="rule">{{.Rule}}</p>
{{if .Suggested}}<table>
<thead><tr><th>Priority</th><th>Metric</th><th>Confidence</th><th>Before</th><th>Window</th><th>Reason</th></tr></thead>
<tbody>{{range .Suggested}}<tr>{{range $i, $c := .}}<td{{if and (eq $i 0) (eq $c "high")}} class="high"{{else if eq $i 3}} class="date"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{else}}<p>{{.None}}</p>
{{end}}{{if .Links}}<ul>{{range .Links}}<li><a href="{{.Href}}">{{.Name}}</a></li>
{{end}}</ul>
{{end}}<h2>Runs</h2>
<table>
<thead><tr><th>Started</th><th>Run</th></tr></thead>
<tbody>{{range .Runs}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
<footer>aiuptime drill report --trend · plan {{.T.Plan}}</footer>
</main>
</body>
</html>
`))

// Geometry of a trend chart.
const (
	trW    = 640.0
	trH    = 230.0
	trPadL = 74.0
	trPadR = 18.0
	trPadT = 16.0
	trPadB = 34.0
	// TrendChartReach is how far past the newest run a chart's time axis
	// stretches to show a predicted crossing, in spans of the history; a
	// crossing further out is said in words ("beyond the chart").
	TrendChartReach = 3.0
)

// trendScale maps a metric's times and values onto a chart.
type trendScale struct {
	t0, t1 time.Time
	v0, v1 float64
	step   float64 // the value axis' tick step
	// beyond is set when the crossing falls outside the time axis.
	beyond bool
}

func (s trendScale) x(t time.Time) float64 {
	return trPadL + t.Sub(s.t0).Seconds()/s.t1.Sub(s.t0).Seconds()*(trW-trPadL-trPadR)
}

func (s trendScale) y(v float64) float64 {
	return trH - trPadB - (v-s.v0)/(s.v1-s.v0)*(trH-trPadT-trPadB)
}

// fitAt is the value of the line through m's centre with slope (per day) at t.
func fitAt(m *MetricTrend, slope float64, t time.Time) float64 {
	return m.Center.Value + slope*t.Sub(m.Center.At).Hours()/24
}

// newTrendScale spans the runs (and now), stretched to a crossing within
// TrendChartReach spans of history, and the values of the runs, the fit
// and the threshold. The band is not fitted in: it is clipped.
func newTrendScale(t *TrendReport, m *MetricTrend) trendScale {
	s := trendScale{t0: t.From, t1: t.To}
	for _, p := range m.Points {
		if s.t0.IsZero() || p.At.Before(s.t0) {
			s.t0 = p.At
		}
		if p.At.After(s.t1) {
			s.t1 = p.At
		}
	}
	if t.Now.After(s.t1) {
		s.t1 = t.Now
	}
	span := max(s.t1.Sub(s.t0), 24*time.Hour)
	if c := m.Crossing; c != nil {
		reach := s.t1.Add(time.Duration(TrendChartReach * float64(span)))
		s.beyond = c.At.Before(s.t0) || c.At.After(reach)
		if !s.beyond && c.At.After(s.t1) {
			s.t1 = c.At
		}
		// The whole earliest..latest span when it fits too.
		if !s.beyond && c.Latest != nil && c.Latest.After(s.t1) && !c.Latest.After(reach) {
			s.t1 = *c.Latest
		}
	}
	pad := max(s.t1.Sub(s.t0), 24*time.Hour) / 25
	s.t0, s.t1 = s.t0.Add(-pad), s.t1.Add(pad)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range []float64{fitAt(m, m.SlopePerDay, s.t0), fitAt(m, m.SlopePerDay, s.t1)} {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	for _, p := range m.Points {
		lo, hi = math.Min(lo, p.Value), math.Max(hi, p.Value)
	}
	if m.Threshold != nil {
		lo, hi = math.Min(lo, *m.Threshold), math.Max(hi, *m.Threshold)
	}
	if hi-lo < 1e-12 {
		d := math.Max(math.Abs(hi)*0.1, map[bool]float64{true: 1, false: 1e-3}[m.Unit == "count"])
		lo, hi = lo-d, hi+d
	}
	d := (hi - lo) / 20 // no dot on the frame
	lo, hi = lo-d, hi+d
	// Latencies, ratios and counts are never negative, ratios never above 1.
	if lo < 0 && lo+d >= 0 {
		lo = 0
	}
	if m.Unit == "ratio" && hi > 1 && hi-d <= 1 {
		hi = 1
	}
	s.step = roundUp125((hi - lo) / 4)
	s.v0, s.v1 = math.Floor(lo/s.step)*s.step, math.Ceil(hi/s.step)*s.step
	return s
}

// trendSVG draws m as an inline SVG with a title and a description (words).
func trendSVG(t *TrendReport, m *MetricTrend, idx int, words string) string {
	s := newTrendScale(t, m)
	id := fmt.Sprintf("trend-%d", idx)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 %g %g" role="img" aria-labelledby="%s-title %s-desc" font-family="sans-serif" font-size="11">`, trW, trH, id, id)
	fmt.Fprintf(&b, `<title id="%s-title">%s: %d runs, the fitted trend and its threshold</title><desc id="%s-desc">%s</desc>`, id, esc(m.Metric), len(m.Points), id, esc(words))
	fmt.Fprintf(&b, `<defs><clipPath id="%s-clip"><rect x="%g" y="%g" width="%g" height="%g"/></clipPath></defs>`, id, trPadL, trPadT, trW-trPadL-trPadR, trH-trPadT-trPadB)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%g" height="%g" fill="#fff"/>`, trW, trH)
	s.crossingSpan(&b, m)
	s.axes(&b, m.Unit)
	s.band(&b, m, id)
	if m.Threshold != nil {
		y := s.y(*m.Threshold)
		fmt.Fprintf(&b, `<line class="threshold" x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#d93025" stroke-width="1.4" stroke-dasharray="6,4"/>`, trPadL, trW-trPadR, y, y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" fill="#d93025">threshold %s</text>`, trPadL+4, y-4, esc(trValue(*m.Threshold, m.Unit)))
	}
	fmt.Fprintf(&b, `<line class="fit" clip-path="url(#%s-clip)" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#1a73e8" stroke-width="1.8"/>`,
		id, s.x(s.t0), s.x(s.t1), s.y(fitAt(m, m.SlopePerDay, s.t0)), s.y(fitAt(m, m.SlopePerDay, s.t1)))
	for _, p := range m.Points {
		fmt.Fprintf(&b, `<circle class="run" cx="%.1f" cy="%.1f" r="3.2" fill="#1a73e8" stroke="#fff" stroke-width="0.8"><title>%s: %s</title></circle>`,
			s.x(p.At), s.y(p.Value), esc(trDate(p.At, true)), esc(trValue(p.Value, m.Unit)))
	}
	s.crossingMark(&b, m)
	b.WriteString(`</svg>`)
	return b.String()
}

// band shades the lines through the centre with the interval's slopes (a
// bow tie: every line the interval allows) and draws its two edges.
func (s trendScale) band(b *strings.Builder, m *MetricTrend, id string) {
	lo0, lo1 := fitAt(m, m.SlopeLowPerDay, s.t0), fitAt(m, m.SlopeLowPerDay, s.t1)
	hi0, hi1 := fitAt(m, m.SlopeHighPerDay, s.t0), fitAt(m, m.SlopeHighPerDay, s.t1)
	x0, x1 := s.x(s.t0), s.x(s.t1)
	fmt.Fprintf(b, `<g clip-path="url(#%s-clip)"><polygon class="band" points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="rgba(26,115,232,.18)"/>`,
		id, x0, s.y(lo0), x1, s.y(lo1), x1, s.y(hi1), x0, s.y(hi0))
	for _, e := range [][2]float64{{lo0, lo1}, {hi0, hi1}} {
		fmt.Fprintf(b, `<line class="band-edge" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#1a73e8" stroke-width="0.8" stroke-opacity="0.6"/>`, x0, x1, s.y(e[0]), s.y(e[1]))
	}
	b.WriteString(`</g>`)
}

// axes draws the value grid with labels in the unit's display and the date ticks.
func (s trendScale) axes(b *strings.Builder, unit string) {
	f, suffix, _ := trScale(unit)
	if unit == "seconds" && s.v1 >= 10 {
		f, suffix = 1, " s"
	}
	dec := max(0, -int(math.Floor(math.Log10(s.step*f)+1e-9)))
	for v := s.v0; v <= s.v1+s.step/2; v += s.step {
		y := s.y(v)
		fmt.Fprintf(b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#e1e4ea"/>`, trPadL, trW-trPadR, y, y)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" text-anchor="end" fill="#5b6475">%s</text>`, trPadL-6, y+4, esc(strconv.FormatFloat(v*f, 'f', dec, 64)+suffix))
	}
	bottom := trH - trPadB
	fmt.Fprintf(b, `<line x1="%g" x2="%g" y1="%g" y2="%g" stroke="#8a93a3"/>`, trPadL, trW-trPadR, bottom, bottom)
	days := s.t1.Sub(s.t0).Hours() / 24
	step := max(1, int(math.Ceil(days/5)))
	first := s.t0.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	for d := first; !d.After(s.t1); d = d.AddDate(0, 0, step) {
		x := s.x(d)
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#c4c9d2"/>`, x, x, bottom, bottom+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="middle" fill="#5b6475">%s</text>`, x, bottom+16, d.Format("2006-01-02"))
	}
}

// crossingSpan shades the crossing's earliest to latest time (to the edge
// when the latest is later or never), behind everything.
func (s trendScale) crossingSpan(b *strings.Builder, m *MetricTrend) {
	c := m.Crossing
	if c == nil || c.Crossed || c.Earliest.After(s.t1) {
		return
	}
	from, to := c.Earliest, s.t1
	if c.Latest != nil && c.Latest.Before(to) {
		to = *c.Latest
	}
	if from.Before(s.t0) {
		from = s.t0
	}
	if !to.After(from) {
		return
	}
	fmt.Fprintf(b, `<rect class="crossing-span" x="%.1f" y="%g" width="%.1f" height="%g" fill="rgba(232,163,61,.25)"/>`,
		s.x(from), trPadT, s.x(to)-s.x(from), trH-trPadT-trPadB)
}

// crossingMark marks the predicted crossing, or says it is beyond the chart.
func (s trendScale) crossingMark(b *strings.Builder, m *MetricTrend) {
	c := m.Crossing
	switch {
	case c == nil:
		return
	case s.beyond:
		fmt.Fprintf(b, `<text class="crossing-beyond" x="%g" y="%g" text-anchor="end" fill="#b3261e">crossing %s: beyond the chart</text>`, trW-trPadR-4, trPadT+12, esc(trDate(c.At, false)))
		return
	}
	x := s.x(c.At)
	label := "crossing " + trDate(c.At, false)
	if c.Crossed {
		label = "crossed " + trDate(c.At, false)
	}
	anchor := "end"
	if x < trPadL+140 {
		anchor = "start"
	}
	fmt.Fprintf(b, `<line class="crossing" x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#b3261e" stroke-width="1.4"/>`, x, x, trPadT, trH-trPadB)
	fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="%s" fill="#b3261e">%s</text>`, x+map[string]float64{"end": -4, "start": 4}[anchor], trPadT+12, anchor, esc(label))
}
