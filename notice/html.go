package notice

import (
	"bytes"
	"html/template"
)

// HTML renders the notice as notice.html: one self-contained page in the
// look of report.html (inline CSS, no scripts, no external assets). The
// page is also well-formed XML (void elements closed), so any XML tool
// can read it.
func (n *Notice) HTML() ([]byte, error) {
	data := struct {
		N        *Notice
		Written  string
		Sections []section
		Footer   []string
	}{n, n.Written.UTC().Format("2006-01-02 15:04 UTC"), n.sections(), n.footer()}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var pageTmpl = template.Must(template.New("notice").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>Maintenance notice: {{.N.Plan}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
main{max-width:900px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
.sub{color:#5b6475;margin:0 0 16px}
section{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:2px 16px 10px}
p,li{font-size:14px;line-height:1.45}
li{margin:3px 0}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px;margin:8px 0}
th,td{border:1px solid #e1e4ea;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4;font-weight:600}
footer{color:#8a93a3;font-size:12px;margin-top:32px}
@page{size:A4;margin:12mm}
@media print{body{background:#fff}main{padding:0}section{border:none;padding:0}h2{break-after:avoid}tr{break-inside:avoid}}
</style>
</head>
<body>
<main>
<h1>Maintenance notice: {{.N.Plan}}</h1>
<p class="sub">Advance notice of a maintenance · written {{.Written}}</p>
{{range .Sections}}<h2>{{.Title}}</h2>
<section>
{{range .Paras}}<p>{{.}}</p>
{{end}}{{if .Items}}{{if .Ordered}}<ol>{{else}}<ul>{{end}}
{{range .Items}}<li>{{.}}</li>
{{end}}{{if .Ordered}}</ol>{{else}}</ul>{{end}}
{{end}}{{if .Rows}}<table>
<thead><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{end}}{{range .After}}<p>{{.}}</p>
{{end}}</section>
{{end}}<footer>{{range .Footer}}<p>{{.}}</p>{{end}}</footer>
</main>
</body>
</html>
`))
