package notice

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/calendar"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/reports"
)

func TestMedianAndWorst(t *testing.T) {
	tests := []struct {
		name          string
		xs            []float64
		median, worst float64
	}{
		{"none", nil, 0, 0},
		{"one", []float64{3.5}, 3.5, 3.5},
		{"odd count, unsorted", []float64{9, 1, 4}, 4, 9},
		{"even count: mean of the two middle", []float64{4, 1, 10, 2}, 3, 10},
		{"two equal", []float64{0.5, 0.5}, 0.5, 0.5},
		{"zeros count", []float64{0, 0, 7}, 0, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.xs...)
			if got := median(tc.xs); got != tc.median {
				t.Errorf("median = %v, want %v", got, tc.median)
			}
			if got := worst(tc.xs); got != tc.worst {
				t.Errorf("worst = %v, want %v", got, tc.worst)
			}
			if !cmp.Equal(in, tc.xs) {
				t.Errorf("median reordered its input: %v", tc.xs)
			}
		})
	}
}

func TestDowntimeAndDegraded(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	r := &reports.Report{
		Outages: []reports.Outage{
			{Start: at(2.2), End: at(3.1), DurationSeconds: 0.9},
			{Start: at(8), End: at(8.5), DurationSeconds: 0.5},
		},
		Timeline: reports.Timeline{BucketSeconds: 1, Buckets: []reports.Bucket{
			{T: at(0), Requests: 10, Success: 1, P95: 0.1},   // good
			{T: at(1), Requests: 10, Success: 0.9, P95: 0.1}, // some failed: degraded
			{T: at(2), Requests: 10, Success: 0.2, P95: 0.1}, // overlaps an outage: downtime
			{T: at(3), Requests: 10, Success: 0.5, P95: 0.1}, // overlaps the outage's end
			{T: at(4), Requests: 10, Success: 1, P95: 2.5},   // slow: degraded with a bound
			{T: at(5), Requests: 0, Success: 1, P95: 0},      // no requests
			{T: at(6), Requests: 10, Success: 1, P95: 2},     // at the bound: fine
			{T: at(7), Requests: 10, Success: 0.95, P95: 3},  // both: counted once
		}},
	}
	if got := Downtime(r); got != 1.4 {
		t.Errorf("downtime = %v, want 1.4", got)
	}
	tests := []struct {
		bound time.Duration
		want  float64
	}{{0, 2}, {2 * time.Second, 3}}
	for _, tc := range tests {
		if got := Degraded(r, tc.bound); got != tc.want {
			t.Errorf("degraded with bound %v = %v, want %v", tc.bound, got, tc.want)
		}
	}
}

// writeRun writes a report.json of plan name started at t into dir.
func writeRun(t *testing.T, dir, name string, started time.Time, outages ...float64) {
	t.Helper()
	r := &reports.Report{SchemaVersion: reports.SchemaVersion, Plan: name, StartedAt: started, FinishedAt: started.Add(time.Minute), Verdict: reports.VerdictPass}
	for _, d := range outages {
		r.Outages = append(r.Outages, reports.Outage{Start: started, End: started.Add(time.Duration(d * float64(time.Second))), DurationSeconds: d})
	}
	b, err := reports.MarshalJSON(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, reports.FileJSON), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadHistoryKeepsOnlyThePlan(t *testing.T) {
	root := t.TempDir()
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	writeRun(t, filepath.Join(root, "runs", "b"), "mine", t0.Add(48*time.Hour), 4)
	writeRun(t, filepath.Join(root, "runs", "a"), "other", t0, 100)
	writeRun(t, filepath.Join(root, "runs", "2026-10", "c"), "mine", t0.Add(-24*time.Hour), 1, 2) // two levels down
	writeRun(t, filepath.Join(root, "runs", "d"), "another", t0, 50)
	writeRun(t, filepath.Join(root, "single"), "mine", t0.Add(24*time.Hour))
	if err := os.MkdirAll(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	dirs := []string{filepath.Join(root, "runs"), filepath.Join(root, "single"), filepath.Join(root, "runs", "b"), filepath.Join(root, "empty")}
	h, err := LoadHistory("mine", dirs)
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	for _, r := range h.Runs {
		got = append(got, Downtime(r.Report))
	}
	if want := []float64{3, 0, 4}; !cmp.Equal(got, want) { // oldest first, runs/b once
		t.Errorf("downtimes of the plan's runs = %v, want %v", got, want)
	}
	if h.Skipped != 2 || !cmp.Equal(h.SkippedPlans, []string{"another", "other"}) {
		t.Errorf("skipped %d %v, want 2 [another other]", h.Skipped, h.SkippedPlans)
	}
	if !cmp.Equal(h.Empty, []string{filepath.Join(root, "empty")}) {
		t.Errorf("empty dirs %v", h.Empty)
	}
	n := Build(Input{Plan: &plan.Plan{Name: "mine"}, Now: t0, History: h})
	md := string(n.Markdown())
	for _, want := range []string{"median 3.000 s, worst 4.000 s", "From 3 earlier runs", "Skipped 2 reports of other plans (another, other).", "No report.json under " + filepath.Join(root, "empty")} {
		if !strings.Contains(md, want) {
			t.Errorf("notice lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "100.000 s") || strings.Contains(md, "50.000 s") {
		t.Errorf("notice counts another plan's outage:\n%s", md)
	}
}

func TestLoadHistoryRefuses(t *testing.T) {
	root := t.TempDir()
	bad := filepath.Join(root, "runs", "x", reports.FileJSON)
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("{\"schema_version\": 2,\n \"plan\": \"mine\",,}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadHistory("mine", []string{filepath.Join(root, "runs")})
	if err == nil || !strings.Contains(err.Error(), bad+":2:") || !errors.Is(err, reports.ErrNotReport) {
		t.Errorf("malformed report: %v, want an error naming %s:2:COL", err, bad)
	}
	_, err = LoadHistory("mine", []string{filepath.Join(root, "nope")})
	if !errors.Is(err, ErrNoHistoryDir) || !strings.Contains(err.Error(), filepath.Join(root, "nope")) {
		t.Errorf("missing dir: %v", err)
	}
}

// mdSection returns the Markdown section titled title, up to the next one.
func mdSection(md, title string) string {
	_, after, ok := strings.Cut(md, "## "+title+"\n")
	if !ok {
		return ""
	}
	s, _, _ := strings.Cut(after, "\n## ")
	return s
}

func TestNoHistorySaysSoAndDoesNotGuess(t *testing.T) {
	p, err := plan.Parse("p.yaml", []byte(`name: patch
description: rolling update to the patched server
steps:
  - name: patch
    action: rolling-update
    params: {args: "--server-version 0.10.3"}
`))
	if err != nil {
		t.Fatal(err)
	}
	n := Build(Input{Plan: p, Now: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)})
	if n.Expected != nil {
		t.Fatalf("expectation without history: %+v", n.Expected)
	}
	md := string(n.Markdown())
	down := mdSection(md, "Expected user-visible downtime")
	if !strings.Contains(down, "No earlier run of this plan is known, so no downtime is predicted.") {
		t.Errorf("downtime section does not say there is no history:\n%s", down)
	}
	if strings.ContainsAny(down, "0123456789") {
		t.Errorf("downtime section guesses a number without history:\n%s", down)
	}
	if risk := mdSection(md, "Risk: what earlier runs show"); !strings.Contains(risk, "No earlier run") || strings.ContainsAny(risk, "0123456789") {
		t.Errorf("risk section without history:\n%s", risk)
	}
	for _, want := range []string{"args --server-version 0.10.3", "rolls the replicas already replaced back"} {
		if !strings.Contains(md, want) {
			t.Errorf("notice lacks %q:\n%s", want, md)
		}
	}
}

func TestWhen(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC) // a Wednesday
	berlin, err := calendar.Parse(calendar.Spec{Days: []string{"sat"}, Start: "02:00", End: "06:00", TZ: "Europe/Berlin"})
	if err != nil {
		t.Fatal(err)
	}
	utc, err := calendar.Parse(calendar.Spec{Days: []string{"sun"}, Start: "23:00", End: "01:00"})
	if err != nil {
		t.Fatal(err)
	}
	any := calendar.Any()
	tests := []struct {
		name     string
		w        *calendar.Window
		critical bool
		want     []string
		next     bool
	}{
		{"no window", nil, false, []string{"No window: any time."}, false},
		{"always open", &any, false, []string{"Any time"}, false},
		{"critical", &berlin, true, []string{"Critical: applied at once", "sat 02:00-06:00 Europe/Berlin"}, false},
		{"next window in its zone and UTC", &berlin, false, []string{
			"Next window: Sat 2026-12-05 02:00 to 06:00 CET (Europe/Berlin), that is Sat 2026-12-05 01:00 to 05:00 UTC.",
			"It opens in 2.7 days.", "less than a week's notice"}, true},
		{"a UTC window is said once, across midnight", &utc, false, []string{
			"Next window: Sun 2026-12-06 23:00 to Mon 2026-12-07 01:00 UTC.\n", "every week"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, next := when(tc.w, tc.critical, now)
			text := strings.Join(lines, "\n")
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("when lacks %q:\n%s", w, text)
				}
			}
			if (next != nil) != tc.next {
				t.Fatalf("next window %v, want one: %v", next, tc.next)
			}
			if next != nil && !next.Start.Equal(tc.w.Next(now).Start) {
				t.Errorf("next window %v, want %v", next, tc.w.Next(now))
			}
		})
	}
}
