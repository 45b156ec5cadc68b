package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
)

// TestWindowGate decides runs of a plan with a monthly window (the first
// Saturday, 02:00-06:00 in Berlin) at fixed times.
func TestWindowGate(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	const window = `{days: [sat], start: "02:00", end: "06:00", tz: Europe/Berlin, cadence: monthly%s}`
	load := func(t *testing.T, extra string) *plan.Plan {
		src := "name: monthly\nwindow: " + fmt.Sprintf(window, extra) + "\nsteps:\n  - {name: a, wait: 1s}\n"
		p, err := plan.Parse("plans/monthly.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// 2026-12-05 is the first Saturday of December 2026.
	wednesday := time.Date(2026, 12, 2, 18, 0, 0, 0, berlin)
	saturday := time.Date(2026, 12, 5, 3, 30, 0, 0, berlin)
	for _, tc := range []struct {
		name      string
		critical  bool
		at        time.Time
		flags     windowFlags
		dryRun    bool
		proceed   bool
		code      int // exit code of the error, 0 for none
		inside    bool
		override  string
		nextStart time.Time
		out       string // what it prints, or the error's text
	}{
		{name: "outside: refused, naming the next window", at: wednesday, code: exitcode.Usage, nextStart: saturday.Add(-90 * time.Minute),
			out: "plans/monthly.yaml:2:1: window: outside the maintenance window (sat 02:00-06:00 Europe/Berlin, the first of each month); " +
				"the next opens 2026-12-05 02:00 CET (01:00 UTC); --now runs it anyway"},
		{name: "outside with --now", at: wednesday, flags: windowFlags{now: true}, proceed: true, override: "now", nextStart: saturday.Add(-90 * time.Minute),
			out: "running anyway: --now"},
		{name: "outside, critical", critical: true, at: wednesday, proceed: true, override: "critical", nextStart: saturday.Add(-90 * time.Minute),
			out: "running anyway: the window is critical"},
		{name: "outside with --skip-outside-window", at: wednesday, flags: windowFlags{skip: true}, nextStart: saturday.Add(-90 * time.Minute),
			out: "plan monthly: skipped: outside the maintenance window (sat 02:00-06:00 Europe/Berlin, the first of each month); the next opens 2026-12-05 02:00 CET (01:00 UTC)"},
		{name: "outside, dry run: never refused", at: wednesday, dryRun: true, proceed: true, nextStart: saturday.Add(-90 * time.Minute),
			out: "window: outside the maintenance window"},
		{name: "inside: the next is January's", at: saturday, proceed: true, inside: true, nextStart: time.Date(2027, 1, 2, 2, 0, 0, 0, berlin),
			out: "window: inside the maintenance window (sat 02:00-06:00 Europe/Berlin, the first of each month) until 2026-12-05 06:00 CET (05:00 UTC)"},
		{name: "--now and --skip-outside-window", at: wednesday, flags: windowFlags{now: true, skip: true}, code: exitcode.Usage,
			out: "--now and --skip-outside-window exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.critical {
				extra = ", critical: true"
			}
			var out bytes.Buffer
			check, proceed, err := windowGate(&out, load(t, extra), tc.at, tc.flags, tc.dryRun)
			text := out.String()
			if err != nil {
				text = err.Error()
			}
			if proceed != tc.proceed || exitcode.Of(err, exitcode.Pass) != tc.code || !strings.Contains(text, tc.out) {
				t.Fatalf("proceed %v, exit %d, printed %q; want %v, %d, %q", proceed, exitcode.Of(err, exitcode.Pass), text, tc.proceed, tc.code, tc.out)
			}
			if tc.code == exitcode.Usage && tc.flags.now {
				return // refused before looking at the window
			}
			if check == nil || check.Inside != tc.inside || check.Override != tc.override || check.NextStart == nil || !check.NextStart.Equal(tc.nextStart) {
				t.Errorf("check %+v, want inside %v, override %q, next %s", check, tc.inside, tc.override, tc.nextStart)
			}
		})
	}
}

func TestWindowGateWithoutWindow(t *testing.T) {
	for _, src := range []string{"name: p\nsteps:\n  - {name: a, wait: 1s}\n", "name: p\nwindow: any\nsteps:\n  - {name: a, wait: 1s}\n"} {
		p, err := plan.Parse("p.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		check, proceed, err := windowGate(&bytes.Buffer{}, p, time.Now(), windowFlags{}, false)
		if !proceed || err != nil || (p.Window == nil) != (check == nil) || (check != nil && (!check.Inside || check.NextStart != nil)) {
			t.Errorf("%q: check %+v, proceed %v, err %v", src, check, proceed, err)
		}
	}
}

// farWindow is a plan whose weekly window opens three days from now (UTC)
// for an hour: whenever the test runs, now is outside it.
func farWindow(t *testing.T, dir string) string {
	day := strings.ToLower(time.Now().UTC().AddDate(0, 0, 3).Weekday().String()[:3])
	path := filepath.Join(dir, "far.yaml")
	writeFile(t, path, fmt.Sprintf("name: far\nwindow: {days: [%s], start: \"00:00\", end: \"01:00\"}\nsteps:\n  - {name: a, wait: 1s}\n", day))
	return path
}

// TestRunOutsideWindow runs drill run on a plan outside its window: it is
// refused with exit 2, naming the next window, before anything is created;
// a dry run says so and goes on.
func TestRunOutsideWindow(t *testing.T) {
	dir := t.TempDir()
	planFile := farWindow(t, dir)
	out := filepath.Join(dir, "out")
	_, stderr, code := cli(t, "run", planFile, "--out", out, "--progress", "never")
	if code != exitcode.Usage || !strings.Contains(stderr, planFile+":2:1: window: outside the maintenance window") ||
		!strings.Contains(stderr, "--now runs it anyway") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused run created its report directory: %v", err)
	}
	stdout, stderr, code := cli(t, "run", planFile, "--out", out, "--skip-outside-window")
	if code != exitcode.Pass || !strings.Contains(stdout, "plan far: skipped: outside the maintenance window") {
		t.Errorf("--skip-outside-window: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, stderr, code = cli(t, "run", planFile, "--dry-run")
	if code != exitcode.Pass || !strings.Contains(stdout, "window: outside the maintenance window") || !strings.Contains(stdout, "plan far: 1 steps") {
		t.Errorf("--dry-run: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
