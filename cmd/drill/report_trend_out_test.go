package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/calendar"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/notice"
	"github.com/aiuptime/aiuptime/reports"
)

// trendRuns writes six weekly runs of the shipped monthly-update plan
// under dir, each recording the plan's window and SLOs the way drill run
// does (the window's words, every objective's name and target), and
// returns them with the trend of their p95 latency: heading to the 2 s
// objective with 93 % confidence, so maintenance is suggested with high
// priority.
func trendRuns(t *testing.T, dir string) (*reports.TrendReport, []*reports.Report, *plan.Plan) {
	t.Helper()
	src, err := loadPlan("monthly-update")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := src.Window.Calendar()
	if err != nil {
		t.Fatal(err)
	}
	var slos []reports.SLOResult
	for _, o := range src.SLO.Objectives() {
		slos = append(slos, reports.SLOResult{Name: o.Name, Kind: string(o.Kind), Target: o.Target, Compliant: true})
	}
	t0 := time.Date(2026, 9, 5, 2, 10, 0, 0, time.UTC)
	rep := &reports.TrendReport{Plan: src.Name, Stack: "containers", From: t0, To: t0.AddDate(0, 0, 35), Now: t0.AddDate(0, 0, 35), Level: 0.9}
	var runs []*reports.Report
	for i := range 6 {
		r := &reports.Report{SchemaVersion: reports.SchemaVersion, Plan: src.Name, Stack: "containers", RunID: "r" + string(rune('1'+i)),
			StartedAt: t0.AddDate(0, 0, 7*i), FinishedAt: t0.AddDate(0, 0, 7*i).Add(150 * time.Second),
			Window: &reports.WindowCheck{Window: cal.String(), Inside: true}, SLO: slos}
		r.Availability.RequestBased = 0.9995
		p95 := 0.88 + 0.098*float64(i) + 0.01*float64(i%2) // rising 14 ms a day
		r.Latency = reports.Quantiles{P50: p95 / 2, P95: p95, P99: p95 * 1.2, Count: 1000}
		runDir := filepath.Join(dir, "runs", r.RunID)
		writeReport(t, runDir, r)
		runs = append(runs, r)
		rep.Runs = append(rep.Runs, reports.TrendRun{RunID: r.RunID, StartedAt: r.StartedAt, Dir: runDir})
	}
	th, at := 2.0, t0.AddDate(0, 0, 80)
	latest := at.AddDate(0, 0, 30)
	m := reports.MetricTrend{Metric: reports.MetricNameLatencyP95, Unit: "seconds", Method: "Theil-Sen", SlopePerDay: 0.014,
		SlopeLowPerDay: 0.01, SlopeHighPerDay: 0.018, Center: reports.TrendPoint{At: t0.AddDate(0, 0, 17), Value: 1.118}, Latest: 1.36,
		R2: 0.9, Direction: "worsening", Confidence: 0.93, Threshold: &th,
		Crossing: &reports.Crossing{At: at, Earliest: at.AddDate(0, 0, -14), Latest: &latest, Confidence: 0.93}}
	for i, r := range runs {
		m.Points = append(m.Points, reports.TrendPoint{At: r.StartedAt, Value: 0.88 + 0.098*float64(i)})
	}
	rep.Metrics = []reports.MetricTrend{m, {Metric: reports.MetricNameTTFTP95, Unit: "seconds", Skipped: "not measured by any run"}}
	rep.Suggestions = []reports.Maintenance{{Metric: m.Metric, Priority: reports.PriorityHigh, Confidence: 0.93, Before: m.Crossing.Earliest,
		Window: cal.String(), Reason: "latency_p95 rises 14.0 ms/day; it reaches the 2.000 s threshold around 2026-11-24; confidence 93%"}}
	return rep, runs, src
}

// runTrendOut calls writeTrendFiles as drill report --trend --out does.
func runTrendOut(t *testing.T, rep *reports.TrendReport, runs []*reports.Report, out string) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&buf)
	err := writeTrendFiles(cmd, rep, runs, out)
	return buf.String(), err
}

func TestTrendOutWritesStubNoticeAndSchedules(t *testing.T) {
	dir := t.TempDir()
	rep, runs, src := trendRuns(t, dir)
	rep.Now = time.Date(2026, 12, 14, 9, 0, 0, 0, time.UTC) // --now past the newest run: the notice is written as of then
	out := filepath.Join(dir, "trend")
	printed, err := runTrendOut(t, rep, runs, out)
	if err != nil {
		t.Fatal(err)
	}
	units := []string{"aiuptime-drill-preventive-monthly-update.service", "aiuptime-drill-preventive-monthly-update.timer", "cronjob.yaml"}
	want := append([]string{FileTrendJSON, FileTrendMarkdown, FileTrendHTML, reports.FileProm, FileMaintenance, notice.FileMarkdown, notice.FileHTML}, units...)
	var wantPrinted []string
	for _, f := range want {
		wantPrinted = append(wantPrinted, "wrote "+filepath.Join(out, f))
	}
	if diff := cmp.Diff(wantPrinted, strings.Split(strings.TrimSpace(printed), "\n")); diff != "" {
		t.Errorf("files printed (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(out)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if slices.Sort(want); !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", out, got, want)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// The stub loads with the plan loader, keeps the source plan's window
	// and SLOs, and drill validate accepts it.
	stubPath := filepath.Join(out, FileMaintenance)
	stub, err := plan.LoadFile(stubPath)
	if err != nil {
		t.Fatalf("the stub does not load: %v\n%s", err, read(FileMaintenance))
	}
	srcCal, _ := src.Window.Calendar()
	stubCal, err := stub.Window.Calendar()
	if err != nil || stubCal.String() != srcCal.String() || stub.Name != "preventive-monthly-update" {
		t.Errorf("stub %s window %v (%v), want %v", stub.Name, stubCal, err, srcCal)
	}
	if diff := cmp.Diff(src.SLO.Objectives(), stub.SLO.Objectives()); diff != "" {
		t.Errorf("stub's SLOs differ from monthly-update's (-want +got):\n%s", diff)
	}
	if !strings.Contains(stub.Description, rep.Suggestions[0].Reason) || !strings.Contains(read(FileMaintenance), "# A STUB to edit") {
		t.Errorf("the stub does not say why or that it is a stub:\n%s", read(FileMaintenance))
	}
	if out, code, err := runCLI(t, "validate", stubPath); code != exitcode.Pass {
		t.Errorf("drill validate %s: exit %d: %v\n%s", stubPath, code, err, out)
	}

	// The timer opens at the window: the first Saturday of each month,
	// 02:00 UTC, in systemd.time(7)'s words.
	if timer := read(units[1]); !strings.Contains(timer, "OnCalendar=Sat *-*-01..07 02:00:00 UTC") || !strings.Contains(read(units[0]), stubPath) {
		t.Errorf("the schedules do not run the stub in its window:\n%s", timer)
	}
	for _, s := range []string{notice.NoHistory, "Next window: Sat 2027-01-02 02:00 to 06:00 UTC.", "before 2026-11-10, the earliest predicted crossing of a threshold. That date has passed", "Schedules for this window, beside this notice (as drill schedule writes them): " + strings.Join(units, ", ")} {
		if !strings.Contains(strings.Join(strings.Fields(read(notice.FileMarkdown)), " "), s) {
			t.Errorf("notice.md lacks %q", s)
		}
	}
	for _, f := range []string{FileMaintenance, notice.FileHTML, units[2]} {
		if !strings.Contains(read(FileTrendMarkdown), "["+reports.MarkdownText(f)+"]("+f+")") || !strings.Contains(read(FileTrendHTML), `href="`+f+`"`) {
			t.Errorf("trend.md or trend.html does not link %s", f)
		}
	}

	var back reports.TrendReport
	if err := json.Unmarshal([]byte(read(FileTrendJSON)), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, &back); diff != "" {
		t.Errorf("trend.json does not read back (-want +got):\n%s", diff)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(read(reports.FileProm)))
	if err != nil || fams[reports.MetricTrendCrossing].GetMetric()[0].GetGauge().GetValue() != float64(rep.Metrics[0].Crossing.At.Unix()) {
		t.Errorf("drill.prom: %v, crossing %v", err, fams[reports.MetricTrendCrossing])
	}
}

func TestTrendOutWithoutSuggestionsOrWindow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*reports.TrendReport, []*reports.Report)
		files  []string
		stubIs string
	}{
		{"no suggestion: only the trend", func(rep *reports.TrendReport, _ []*reports.Report) { rep.Suggestions = nil },
			[]string{reports.FileProm, FileTrendHTML, FileTrendJSON, FileTrendMarkdown}, ""},
		{"window words not read back: no schedules", func(_ *reports.TrendReport, runs []*reports.Report) {
			runs[len(runs)-1].Window.Window = "sat 02:00-06:00 Mars/Olympus, every week"
		}, []string{reports.FileProm, FileMaintenance, notice.FileHTML, notice.FileMarkdown, FileTrendHTML, FileTrendJSON, FileTrendMarkdown},
			"# The newest run kept to the window sat 02:00-06:00 Mars/Olympus, every week, which could not be read back:"},
		{"no window recorded: no schedules", func(_ *reports.TrendReport, runs []*reports.Report) { runs[len(runs)-1].Window = nil },
			[]string{reports.FileProm, FileMaintenance, notice.FileHTML, notice.FileMarkdown, FileTrendHTML, FileTrendJSON, FileTrendMarkdown},
			"# The newest run recorded no maintenance window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rep, runs, _ := trendRuns(t, dir)
			tc.edit(rep, runs)
			out := filepath.Join(dir, "out")
			if _, err := runTrendOut(t, rep, runs, out); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(out)
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			if !slices.Equal(got, tc.files) {
				t.Errorf("wrote %v, want %v", got, tc.files)
			}
			if tc.stubIs == "" {
				return
			}
			b, _ := os.ReadFile(filepath.Join(out, FileMaintenance))
			if _, err := plan.LoadFile(filepath.Join(out, FileMaintenance)); err != nil || !bytes.Contains(b, []byte(tc.stubIs)) {
				t.Errorf("stub: %v; want it to load and say %q:\n%s", err, tc.stubIs, b)
			}
		})
	}
}

func TestTrendOutRefusesUnsafeTargets(t *testing.T) {
	dir := t.TempDir()
	rep, runs, _ := trendRuns(t, dir)
	file := filepath.Join(dir, "a-file")
	writeFile(t, file, "x")
	if _, err := runTrendOut(t, rep, runs, file); exitcode.Of(err, exitcode.Pass) != exitcode.Usage || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("--out naming a file: %v, want exit 2 saying it is not a directory", err)
	}
	out := filepath.Join(dir, "out")
	victim := filepath.Join(dir, "victim")
	writeFile(t, victim, "keep me")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(out, notice.FileHTML)); err != nil {
		t.Fatal(err)
	}
	_, err := runTrendOut(t, rep, runs, out)
	if !errors.Is(err, reports.ErrUnsafeTarget) {
		t.Errorf("a symlink at notice.html: %v, want ErrUnsafeTarget", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if _, err := os.Stat(filepath.Join(out, FileTrendJSON)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("trend.json written although the write was refused: %v", err)
	}
}

func TestWindowSpecReadsBackWhatRunsRecord(t *testing.T) {
	for _, spec := range []calendar.Spec{
		{Days: []string{"sat"}, Start: "02:00", End: "06:00", TZ: "UTC", Cadence: "monthly"},
		{Days: []string{"mon", "wed", "fri"}, Start: "22:00", End: "01:30", TZ: "Europe/Berlin", Cadence: "weekly"},
		{Days: []string{"sun"}, Start: "00:00", End: "24:00", TZ: "America/New_York", Cadence: "quarterly"},
	} {
		w, err := calendar.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := windowSpec(w.String())
		if !ok || !cmp.Equal(got, spec) {
			t.Errorf("%q read back as %+v (%v), want %+v", w.String(), got, ok, spec)
		}
	}
	for _, bad := range []string{"", "any time", "sat 02:00-06:00 UTC", "sat 02:00-06:00 UTC, every fortnight", "sat 2:00-06:00 UTC, every week"} {
		if _, ok := windowSpec(bad); ok {
			t.Errorf("%q read back as a window", bad)
		}
	}
}

// TestBeforeWords checks the notice's line on the deadline against the
// calendar of 2026: the first Saturdays of November and December are the
// 7th and the 5th.
func TestBeforeWords(t *testing.T) {
	before := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	sugg := []reports.Maintenance{{Before: before.AddDate(0, 0, 3)}, {Before: before}}
	nov7 := &calendar.Span{Start: time.Date(2026, 11, 7, 2, 0, 0, 0, time.UTC)}
	dec5 := &calendar.Span{Start: time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)}
	const head = "The trend asks for this maintenance before 2026-11-10, the earliest predicted crossing of a threshold."
	for _, tc := range []struct {
		name string
		next *calendar.Span
		now  time.Time
		want string
	}{
		{"window in time", nov7, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), head},
		{"window too late", dec5, time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC), head + " The next window opens after that (2026-12-05): consider an earlier slot."},
		{"deadline past", dec5, time.Date(2026, 11, 12, 0, 0, 0, 0, time.UTC), head + " That date has passed: do it at the first opportunity."},
		{"no window", nil, time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC), head},
	} {
		if got := beforeWords(sugg, tc.next, tc.now); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestReportTrendOut runs drill report --trend --out on the runs of
// trendRuns, fitted by TrendOf: their p95 latency rises about 14 ms a day
// toward monthly-update's 2 s objective, so the output holds the stub, its
// notice and schedules.
func TestReportTrendOut(t *testing.T) {
	dir := t.TempDir()
	trendRuns(t, dir)
	out := filepath.Join(dir, "out")
	stdout, code, err := runCLI(t, "report", "--trend", filepath.Join(dir, "runs"), "--out", out)
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %v\n%s", code, err, stdout)
	}
	for _, f := range []string{FileTrendHTML, reports.FileProm, FileMaintenance, notice.FileMarkdown, "aiuptime-drill-preventive-monthly-update.timer"} {
		if !strings.Contains(stdout, "wrote "+filepath.Join(out, f)) {
			t.Errorf("drill report --trend --out did not write %s:\n%s", f, stdout)
		}
	}
	if _, err := plan.LoadFile(filepath.Join(out, FileMaintenance)); err != nil {
		t.Errorf("the stub does not load: %v", err)
	}
}
