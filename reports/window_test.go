package reports

import (
	"html/template"
	"strings"
	"testing"
	"time"
)

// TestWindowInSummary: the summary of report.md and report.html says which
// maintenance window the run was checked against and how it kept to it.
func TestWindowInSummary(t *testing.T) {
	next := time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)
	const win = "sat 02:00-06:00 UTC, the first of each month"
	for _, tc := range []struct {
		name  string
		check *WindowCheck
		want  string
	}{
		{"inside", &WindowCheck{Window: win, Inside: true}, "Maintenance window: " + win + " — ran inside."},
		{"--now", &WindowCheck{Window: win, Override: "now", NextStart: &next}, "Maintenance window: " + win + " — ran outside by --now override."},
		{"critical", &WindowCheck{Window: win, Override: "critical", NextStart: &next}, "Maintenance window: " + win + " — ran outside: the plan's window is critical (an emergency change goes in at once)."},
		{"no window", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleReport("")
			r.Window = tc.check
			md, err := Markdown(r)
			if err != nil {
				t.Fatal(err)
			}
			page, err := HTML(r)
			if err != nil {
				t.Fatal(err)
			}
			summary, _, _ := strings.Cut(string(md), "## Measures")
			htmlSummary := string(page)[strings.Index(string(page), "<h2>Summary</h2>"):]
			htmlSummary, _, _ = strings.Cut(htmlSummary, "<h2>Timeline</h2>")
			if tc.want == "" {
				if strings.Contains(summary, "Maintenance window") || strings.Contains(htmlSummary, "Maintenance window") {
					t.Errorf("a run without a window mentions one:\n%s", summary)
				}
				return
			}
			if !strings.Contains(summary, "- "+mdPara(tc.want)) {
				t.Errorf("report.md summary lacks %q:\n%s", tc.want, summary)
			}
			if !strings.Contains(htmlSummary, "<li>"+template.HTMLEscapeString(tc.want)) {
				t.Errorf("report.html summary lacks %q:\n%s", tc.want, htmlSummary)
			}
		})
	}
}
