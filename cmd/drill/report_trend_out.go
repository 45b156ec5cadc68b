package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/calendar"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/notice"
	"github.com/aiuptime/aiuptime/reports"
)

// Files drill report --trend --out writes (beside notice.md, notice.html
// and drill schedule's units when maintenance is suggested).
const (
	FileTrendJSON     = "trend.json"
	FileTrendMarkdown = "trend.md"
	FileTrendHTML     = "trend.html"
	FileMaintenance   = "maintenance.yaml"
)

// outFile is a file rendered in memory, written by writeOutFiles.
type outFile struct {
	name string
	body []byte
}

// writeTrendFiles writes the trend into dir: trend.json, trend.md,
// trend.html and drill.prom; and when maintenance is suggested, the plan
// stub maintenance.yaml (checked by the plan loader first), its notice
// (notice.md, notice.html) and, when the stub has a window, the units drill
// schedule would write for it. Every file is rendered and masked before
// any is written; it prints the paths written.
func writeTrendFiles(cmd *cobra.Command, rep *reports.TrendReport, runs []*reports.Report, dir string) error {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--out %s: exists and is not a directory", dir))
	}
	var files, extra []outFile
	var links []reports.TrendLink
	if len(rep.Suggestions) > 0 {
		var err error
		if extra, err = maintenanceFiles(rep, runs, dir); err != nil {
			return err
		}
		for _, f := range extra {
			links = append(links, reports.TrendLink{Name: f.name, Href: f.name})
		}
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return exitcode.Wrap(exitcode.Harness, fmt.Errorf("render %s: %w", FileTrendJSON, err))
	}
	html, err := rep.HTML(links...)
	if err != nil {
		return exitcode.Wrap(exitcode.Harness, err)
	}
	prom, err := rep.Prom()
	if err != nil {
		return exitcode.Wrap(exitcode.Harness, fmt.Errorf("render %s: %w", reports.FileProm, err))
	}
	files = append(files, outFile{FileTrendJSON, append(js, '\n')}, outFile{FileTrendMarkdown, trendMarkdownWithLinks(rep, links)},
		outFile{FileTrendHTML, html}, outFile{reports.FileProm, prom})
	files = append(files, extra...)
	for i := range files {
		files[i].body = redactor.Bytes(files[i].body)
	}
	if err := writeOutFiles(dir, files); err != nil {
		return exitcode.Wrap(exitcode.Harness, err)
	}
	for _, f := range files {
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", filepath.Join(dir, f.name))
	}
	return nil
}

// trendMarkdownWithLinks is trend.md: the trend's Markdown and, when there
// are any, relative links to the maintenance files beside it.
func trendMarkdownWithLinks(rep *reports.TrendReport, links []reports.TrendLink) []byte {
	var b bytes.Buffer
	b.WriteString(strings.TrimRight(rep.Markdown(), "\n") + "\n")
	if len(links) > 0 {
		b.WriteString("\n## Preventive maintenance files\n\n")
		for _, l := range links {
			fmt.Fprintf(&b, "- [%s](%s)\n", reports.MarkdownText(l.Name), l.Href)
		}
	}
	return b.Bytes()
}

// maintenanceFiles are the plan stub, its notice and its schedules. The
// stub is parsed and validated by the plan loader before anything is
// written: a stub drill validate would refuse is a harness error.
func maintenanceFiles(rep *reports.TrendReport, runs []*reports.Report, dir string) ([]outFile, error) {
	stubYAML := maintenanceStub(rep, newestRun(runs))
	path := filepath.Join(dir, FileMaintenance)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	stub, err := plan.Parse(path, stubYAML)
	if err != nil {
		return nil, exitcode.Wrap(exitcode.Harness, fmt.Errorf("the maintenance plan stub does not validate: %w", err))
	}
	files := []outFile{{FileMaintenance, stubYAML}}
	win, critical, err := planWindow(stub)
	if err != nil {
		return nil, exitcode.Wrap(exitcode.Harness, err)
	}
	var units []outFile
	if win != nil && !win.Always {
		if units, err = maintenanceSchedules(stub, *win); err != nil {
			return nil, err
		}
	}
	n, err := maintenanceNotice(rep, stub, win, critical, units)
	if err != nil {
		return nil, err
	}
	return append(append(files, n...), units...), nil
}

// maintenanceNotice is the stub's advance notice. The trend's runs are
// of the source plan, not of the stub, so its history has no run: the
// notice predicts no downtime and says so, and how many reports of the
// source plan it left out (the runs already read, not read again). It is
// written as of now, or as of the trend's Now when that was set past the
// newest run.
func maintenanceNotice(rep *reports.TrendReport, stub *plan.Plan, win *calendar.Window, critical bool, units []outFile) ([]outFile, error) {
	var h notice.History
	for _, r := range rep.Runs {
		if r.Dir != "" {
			h.Skipped++
		}
	}
	if h.Skipped > 0 {
		h.SkippedPlans = []string{rep.Plan}
	}
	now := time.Now()
	if rep.Now.After(rep.To) {
		now = rep.Now
	}
	n := notice.Build(notice.Input{Plan: stub, Window: win, Critical: critical, Now: now, History: h})
	n.When = append(n.When, beforeWords(rep.Suggestions, n.NextWindow, now))
	if len(units) > 0 {
		names := make([]string, len(units))
		for i, u := range units {
			names[i] = u.name
		}
		n.When = append(n.When, "Schedules for this window, beside this notice (as drill schedule writes them): "+strings.Join(names, ", ")+".")
	}
	html, err := n.HTML()
	if err != nil {
		return nil, exitcode.Wrap(exitcode.Harness, fmt.Errorf("render %s: %w", notice.FileHTML, err))
	}
	return []outFile{{notice.FileMarkdown, append(n.Markdown(), '\n')}, {notice.FileHTML, html}}, nil
}

// beforeWords says by when the trend asks for the maintenance (the
// earliest Before) and whether the next window comes in time.
func beforeWords(sugg []reports.Maintenance, next *calendar.Span, now time.Time) string {
	before := sugg[0].Before
	for _, s := range sugg[1:] {
		if s.Before.Before(before) {
			before = s.Before
		}
	}
	date := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	line := fmt.Sprintf("The trend asks for this maintenance before %s, the earliest predicted crossing of a threshold.", date(before))
	switch {
	case !before.After(now):
		line += " That date has passed: do it at the first opportunity."
	case next != nil && next.Start.After(before):
		line += fmt.Sprintf(" The next window opens after that (%s): consider an earlier slot.", date(next.Start))
	}
	return line
}

// maintenanceSchedules are the systemd service and timer and the CronJob
// drill schedule writes for the stub, run by this binary.
func maintenanceSchedules(stub *plan.Plan, win calendar.Window) ([]outFile, error) {
	s := scheduled{Plan: stub, Ref: stub.File, Cal: win, Image: DefaultScheduleImage, Reports: DefaultScheduleReports}
	exe, err := os.Executable()
	if err != nil {
		return nil, exitcode.Wrap(exitcode.Harness, fmt.Errorf("schedules: the path of this binary is unknown: %w", err))
	}
	if s.Drill, err = filepath.Abs(exe); err != nil {
		return nil, exitcode.Wrap(exitcode.Harness, fmt.Errorf("schedules: %w", err))
	}
	sf, err := s.render(formatAll)
	if err != nil {
		return nil, err
	}
	out := make([]outFile, len(sf))
	for i, f := range sf {
		out[i] = outFile{f.name, []byte(f.body)}
	}
	return out, nil
}

// newestRun is the run that started last (nil without runs).
func newestRun(runs []*reports.Report) *reports.Report {
	var n *reports.Report
	for _, r := range runs {
		if r != nil && (n == nil || r.StartedAt.After(n.StartedAt)) {
			n = r
		}
	}
	return n
}

// writeOutFiles writes files into dir with the reports' safe writer: a
// target that is not a regular file (a symlink) stops it before anything
// is written.
func writeOutFiles(dir string, files []outFile) error {
	named := make([]reports.NamedFile, len(files))
	for i, f := range files {
		named[i] = reports.NamedFile{Name: f.name, Body: f.body}
	}
	return reports.WriteFiles(dir, named)
}

// maintenanceStub is the plan stub of rep's suggestions: a steady state
// and a validate step, the source plan's window and SLOs as the newest run
// recorded them, and comments saying what to edit. Strings are written as
// JSON strings, which YAML reads as double-quoted scalars.
func maintenanceStub(rep *reports.TrendReport, newest *reports.Report) []byte {
	var b bytes.Buffer
	q := func(s string) string { j, _ := json.Marshal(s); return string(j) }
	fmt.Fprintf(&b, "# A STUB to edit, written by drill report --trend: preventive maintenance for\n"+
		"# plan %s, from the trend of its %d runs %s to %s.\n", rep.Plan, len(rep.Runs), rep.From.UTC().Format(time.DateOnly), rep.To.UTC().Format(time.DateOnly))
	b.WriteString("# It has not run. Put the maintenance itself where the comment below says,\n" +
		"# check the file with drill validate and try it in a test environment first;\n" +
		"# then write its notice and schedules again (drill notice FILE --out DIR,\n" +
		"# drill schedule FILE --out DIR): the ones beside it describe the stub as is.\n#\n# Suggested:\n")
	var reasons []string
	for _, s := range rep.Suggestions {
		fmt.Fprintf(&b, "#   %s, before %s: %s\n", s.Priority, s.Before.UTC().Format(time.DateOnly), commentLine(s.Reason))
		reasons = append(reasons, s.Reason)
	}
	fmt.Fprintf(&b, "name: %s\n", q("preventive-"+rep.Plan))
	fmt.Fprintf(&b, "description: %s\n", q("preventive maintenance of "+rep.Plan+": "+strings.Join(reasons, "; ")))
	if rep.Stack != "" {
		fmt.Fprintf(&b, "# The runs drilled stack %s: set stack: to its file when it is not the embedded one.\n", commentLine(rep.Stack))
	}
	b.WriteString(stubWindow(newest))
	b.WriteString(stubSLO(newest))
	b.WriteString("# The probe's defaults; copy the source plan's probe: block to measure the same way.\n" +
		"probe: {interval: 100ms, mode: chat, target: gateway, timeout: 10s}\n" +
		"steps:\n" +
		"  - name: steady state\n" +
		"    wait: 30s\n" +
		"  # The maintenance goes here: the step the suggestion calls for (a\n" +
		"  # rolling-update or model-update of the replicas, a restart, a backup and\n" +
		"  # restore), with a steady state after it. See drill list for the actions.\n" +
		"  # Then validate: every service healthy, the golden prompt, a completion\n" +
		"  # through the gateway, and latency, TTFT, throughput and error rate\n" +
		"  # against the steady state before.\n" +
		"  - name: validate\n" +
		"    action: validate\n" +
		"    params: {baseline: steady state, duration: 30s}\n" +
		"    timeout: 2m\n")
	return b.Bytes()
}

// commentLine keeps s on one comment line.
func commentLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// stubWindow is the window: key of the newest run's window, read back from
// the words it recorded and checked by rendering them again; a window that
// cannot be read back is a comment naming it.
func stubWindow(newest *reports.Report) string {
	if newest == nil || newest.Window == nil || newest.Window.Window == "" {
		return "# The newest run recorded no maintenance window: add the source plan's window: key\n" +
			"# here (drill schedule needs one), e.g. window: {days: [sat], start: \"02:00\", end: \"06:00\", tz: UTC}\n"
	}
	text := newest.Window.Window
	note := ""
	if newest.Window.Override == "critical" {
		note = "# The source plan's window is critical: true (applied at once); this stub's is not.\n"
	}
	if text == calendar.Any().String() {
		return note + "# The source plan runs at any time.\nwindow: any\n"
	}
	spec, ok := windowSpec(text)
	if !ok {
		return note + fmt.Sprintf("# The newest run kept to the window %s, which could not be read back:\n"+
			"# copy the source plan's window: key here.\n", commentLine(text))
	}
	return note + fmt.Sprintf("# The source plan's window, as its newest run recorded it (%s).\n"+
		"window: {days: [%s], start: %q, end: %q, tz: %s, cadence: %s}\n", text, strings.Join(spec.Days, ", "), spec.Start, spec.End, spec.TZ, spec.Cadence)
}

// windowSpec reads back calendar.Window.String()'s words ("sat,sun
// 02:00-06:00 Europe/Berlin, the first of each month"); ok only when the
// spec parses and renders to the same words.
func windowSpec(text string) (calendar.Spec, bool) {
	head, tail, _ := strings.Cut(text, ", ")
	f := strings.Fields(head)
	if len(f) != 3 {
		return calendar.Spec{}, false
	}
	start, end, _ := strings.Cut(f[1], "-")
	spec := calendar.Spec{Days: strings.Split(f[0], ","), Start: start, End: end, TZ: f[2]}
	for _, c := range calendar.Cadences {
		spec.Cadence = string(c)
		if w, err := calendar.Parse(spec); err == nil && w.String() == text && tail != "" {
			return spec, true
		}
	}
	return calendar.Spec{}, false
}

// stubSLO is the slo: block of the newest run's objectives that are plan
// keys, first result of a name winning, in the plan key's units.
func stubSLO(newest *reports.Report) string {
	if newest == nil {
		return ""
	}
	pct := func(v float64) string { return trimZeros(strconv.FormatFloat(v*100, 'f', 6, 64)) }
	dur := func(v float64) string {
		return time.Duration(v * float64(time.Second)).Round(time.Millisecond).String()
	}
	format := map[string]func(float64) string{
		"availability": pct, "error_rate": func(v float64) string { return pct(v) + "%" },
		"latency_p95": dur, "latency_p99": dur, "ttft_p95": dur, "recovery_time": dur, "rto": dur, "rpo": dur,
		"throughput": func(v float64) string { return trimZeros(strconv.FormatFloat(v, 'f', 6, 64)) },
	}
	var lines []string
	seen := map[string]bool{}
	for _, s := range newest.SLO {
		f, ok := format[s.Name]
		if !ok || seen[s.Name] || s.NotEvaluated || !(s.Target > 0) {
			continue
		}
		seen[s.Name] = true
		lines = append(lines, fmt.Sprintf("  %s: %s\n", s.Name, f(s.Target)))
	}
	if len(lines) == 0 {
		return "# The newest run recorded no SLO a plan key holds: add the source plan's slo: block.\n"
	}
	return "# The SLOs the newest run was judged against.\nslo:\n" + strings.Join(lines, "")
}

// trimZeros drops trailing zeros of a decimal (and its point).
func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}
