package reports

import (
	"bytes"
	"html/template"
	"strings"
)

// HTML renders r as report.html: one self-contained page (inline CSS and
// SVG, no scripts, no external assets) for customers and engineers.
func HTML(r *Report) ([]byte, error) {
	type table struct {
		Title string
		Head  []string
		Rows  [][]string
		Empty string
		// KV marks a two-column table of names and values, which print
		// lays out in two pairs per line.
		KV bool
	}
	var tables []table
	add := func(title string, head []string, rows [][]string, empty string) {
		if len(rows) > 0 || empty != "" {
			tables = append(tables, table{title, head, rows, empty, len(head) == 2})
		}
	}
	add("SLOs", sloHeader, sloRows(r.SLO), "No SLOs were set.")
	if len(r.SLOPrometheus) > 0 {
		add("SLOs as Prometheus saw them", sloHeader, sloRows(r.SLOPrometheus), "")
	}
	add("Steps", stepHeader, stepRows(r), "No steps ran.")
	add("Outages", outageHeader, outageRows(r), "No outages.")
	add("Recovery phases", []string{"Phase", "Seconds"}, phaseRows(r.MTTRPhases), "")
	htmlComponents(r, add)
	if r.DR != nil {
		add("Disaster recovery", []string{"Measure", "Value"}, drRows(r.DR), "")
		add("RTO phases", []string{"Phase", "Seconds"}, phaseRows(r.DR.Phases), "")
	}
	add("Rollouts", rolloutHeader, rolloutRows(r.Rollouts), "")
	add("Deployment rollouts (Kubernetes)", deploymentHeader, deploymentRows(r.Rollouts), "")
	htmlValidations(r, add)
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
		Brief    []BriefSection
		Headline [][]string
		Timeline template.HTML
		Tables   []table
		Started  string
		Finished string
		Duration string
	}{r, strings.ToUpper(string(r.Verdict)), BriefOf(r).Sections(), headline(r), template.HTML(TimelineSVG(r)), tables,
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
.brief{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:4px 16px 10px;columns:2 360px;column-gap:28px}
.brief section{break-inside:avoid}
.brief h3{font-size:13px;margin:10px 0 4px;color:#1d2330}
.brief ul{margin:0;padding-left:18px;font-size:13px;line-height:1.4}
.brief li{margin:2px 0}
@page{size:A4;margin:9mm 9mm}
@media print{
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{background:#fff;font-size:8pt}
main{max-width:none;padding:0}
h1{font-size:14pt}
h2{font-size:10pt;margin:7pt 0 2pt;break-after:avoid}
.sub{margin:0 0 4pt}
.badges{gap:3pt;margin:4pt 0 2pt}
.badge{padding:2pt 5pt;min-width:0;border-radius:3pt}
.badge b{font-size:10pt!important}
.badge span{font-size:6pt}
.reason{padding:3pt 6pt;margin:4pt 0}
.brief{border:none;padding:0;columns:1}
.brief h3{font-size:9pt;margin:5pt 0 1pt}
.brief ul{font-size:8pt;line-height:1.3}
.brief li{margin:0}
.chart{border:none;padding:0;break-inside:avoid}
.chart svg{max-height:62mm}
.legend{font-size:7pt;margin-top:2pt}
table{font-size:6.5pt}
th,td{padding:.5pt 2.5pt;overflow-wrap:anywhere}
thead{display:table-header-group}
tr{break-inside:avoid}
table.kv thead{display:none}
table.kv tbody{display:flex;flex-wrap:wrap;border-top:1px solid #e1e4ea;border-left:1px solid #e1e4ea}
table.kv tr{display:flex;width:50%}
table.kv td{flex:1;border-top:none;border-left:none}
table.kv td:first-child{flex:0 0 38%;font-weight:600}
footer{margin-top:8pt;font-size:7pt}
}
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
<h2>Summary</h2>
<div class="brief">{{range .Brief}}<section><h3>{{.Title}}</h3><ul>{{range .Lines}}<li>{{.}}</li>{{end}}</ul></section>
{{end}}</div>
<h2>Timeline</h2>
<div class="chart">{{.Timeline}}
<div class="legend"><i style="background:#1a73e8"></i>p95 latency<i style="background:#137333"></i>success ratio<i style="background:rgba(232,163,61,.35)"></i>fault in force<i style="background:#d93025"></i>outage</div>
</div>
{{range .Tables}}<h2>{{.Title}}</h2>
{{if .Rows}}<table{{if .KV}} class="kv"{{end}}>
<thead><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td{{if or (eq . "NO") (eq . "NO (not measured)") (eq . "failed") (eq . "error") (eq . "DIFFERENT") (eq . "NOT FIRED")}} class="bad"{{end}}>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>{{else}}<p>{{.Empty}}</p>{{end}}
{{end}}
<footer>aiuptime drill report · schema {{.R.SchemaVersion}}{{if .R.RunID}} · run {{.R.RunID}}{{end}}{{if .R.Environment.ToolVersion}} · drill {{.R.Environment.ToolVersion}}{{end}}</footer>
</main>
</body>
</html>
`))
