package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
)

// TestScheduleUnitsVerify writes the systemd units of a monthly window and
// has systemd load them: systemd-analyze verify checks every directive,
// the calendar expression and that the command exists.
func TestScheduleUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the units cannot be verified here")
	}
	dir := t.TempDir()
	planFile := filepath.Join(dir, "monthly update.yaml") // a space: ExecStart must quote it
	writeFile(t, planFile, "name: monthly-update\nwindow: {days: [sat], start: \"02:00\", end: \"06:00\", tz: Europe/Berlin, cadence: monthly}\nsteps:\n  - {name: a, wait: 1s}\n")
	drillBin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	units := filepath.Join(dir, "units")
	stdout, stderr, code := cli(t, "schedule", "--format", "systemd", "--out", units, "--drill", drillBin, planFile)
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	svc, timer := filepath.Join(units, "aiuptime-drill-monthly-update.service"), filepath.Join(units, "aiuptime-drill-monthly-update.timer")
	if !strings.Contains(stdout, "wrote "+svc) || !strings.Contains(stdout, "wrote "+timer) {
		t.Errorf("stdout %q", stdout)
	}
	if _, err := os.Stat(filepath.Join(units, "cronjob.yaml")); !os.IsNotExist(err) {
		t.Errorf("--format systemd wrote a CronJob: %v", err)
	}
	body, err := os.ReadFile(svc)
	if err != nil {
		t.Fatal(err)
	}
	// The drill binary runs through /bin/sh (for the dated directory), so
	// verify checks /bin/sh: check the binary and the plan by hand.
	for _, want := range []string{"exec " + drillBin + " run '" + planFile + "' --progress never --out /var/lib/aiuptime/reports/monthly-update/", `$$(date -u +%%Y%%m%%dT%%H%%M%%SZ)`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("service lacks %q:\n%s", want, body)
		}
	}
	tb, err := os.ReadFile(timer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(tb), "\nOnCalendar=Sat *-*-01..07 02:00:00 Europe/Berlin\n") || !strings.Contains(string(tb), "\nPersistent=false\n") {
		t.Errorf("timer:\n%s", tb)
	}
	cmd := exec.Command(analyze, "verify", svc, timer)
	cmd.Dir = units
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestScheduleCronJob decodes the CronJob strictly as batch/v1 and checks
// its schedule fires at every window opening, in the window's zone.
func TestScheduleCronJob(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	for _, tc := range []struct {
		name, window string
		skip         bool // runs outside the window must skip: cron fires on more days
	}{
		{"monthly", `{days: [sat], start: "02:00", end: "06:00", tz: Europe/Berlin, cadence: monthly}`, true},
		{"quarterly", `{days: [sun], start: "01:30", end: "05:00", tz: Europe/Berlin, cadence: quarterly}`, true},
		{"weekly", `{days: [tue, thu], start: "22:00", end: "01:00", tz: Europe/Berlin}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			planFile := filepath.Join(dir, "p.yaml")
			writeFile(t, planFile, "name: Plan_"+tc.name+"\nwindow: "+tc.window+"\nsteps:\n  - {name: a, wait: 1s}\n")
			_, stderr, code := cli(t, "schedule", "--format", "cronjob", "--out", dir, "--image", "registry.example/drill:1.0", planFile)
			if code != exitcode.Pass {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			b, err := os.ReadFile(filepath.Join(dir, "cronjob.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var cj batchv1.CronJob
			if err := yaml.UnmarshalStrict(b, &cj); err != nil {
				t.Fatalf("not a batch/v1 CronJob: %v\n%s", err, b)
			}
			spec := cj.Spec
			c := spec.JobTemplate.Spec.Template.Spec.Containers
			if cj.APIVersion != "batch/v1" || cj.Kind != "CronJob" || cj.Name != "aiuptime-drill-plan-"+tc.name ||
				spec.TimeZone == nil || *spec.TimeZone != "Europe/Berlin" || spec.ConcurrencyPolicy != batchv1.ForbidConcurrent ||
				spec.StartingDeadlineSeconds == nil || len(c) != 1 || c[0].Image != "registry.example/drill:1.0" {
				t.Fatalf("CronJob:\n%s", b)
			}
			if got := slices.Contains(c[0].Args, "--skip-outside-window"); got != tc.skip {
				t.Errorf("--skip-outside-window in %q: %v, want %v", c[0].Args, got, tc.skip)
			}
			if c[0].Args[0] != "run" || c[0].Args[1] != "/plans/p.yaml" {
				t.Errorf("args %q", c[0].Args)
			}
			sched, err := cron.ParseStandard(spec.Schedule)
			if err != nil {
				t.Fatalf("schedule %q: %v", spec.Schedule, err)
			}
			p, err := plan.LoadFile(planFile)
			if err != nil {
				t.Fatal(err)
			}
			cal, _ := p.Window.Calendar()
			for _, s := range cal.Upcoming(time.Date(2026, 11, 20, 0, 0, 0, 0, berlin), 6) {
				if got := sched.Next(s.Start.Add(-time.Second).In(berlin)); !got.Equal(s.Start) {
					t.Errorf("the schedule %q fires at %s, not at the window opening %s", spec.Schedule, got, s.Start)
				}
			}
		})
	}
}

func TestScheduleRefusesAndChecks(t *testing.T) {
	dir := t.TempDir()
	noWindow := filepath.Join(dir, "none.yaml")
	writeFile(t, noWindow, "name: none\nsteps:\n  - {name: a, wait: 1s}\n")
	always := filepath.Join(dir, "any.yaml")
	writeFile(t, always, "name: always\nwindow: any\nsteps:\n  - {name: a, wait: 1s}\n")
	for _, f := range []string{noWindow, always} {
		stdout, stderr, code := cli(t, "schedule", f)
		if code != exitcode.Usage || !strings.Contains(stderr, "nothing to schedule") || stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", f, code, stdout, stderr)
		}
	}
	weekly := filepath.Join(dir, "weekly.yaml")
	writeFile(t, weekly, "name: weekly\nwindow: {days: [mon], start: \"02:00\", end: \"03:00\", tz: Europe/Berlin}\nsteps:\n  - {name: a, wait: 1s}\n")
	stdout, stderr, code := cli(t, "schedule", "--check", "--count", "3", weekly)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != exitcode.Pass || len(lines) != 4 || !strings.HasPrefix(lines[0], "plan weekly: maintenance window mon 02:00-03:00 Europe/Berlin, every week; the next 3 openings:") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr %s", code, stdout, stderr)
	}
	for _, l := range lines[1:] {
		// "2026-12-07 02:00 CET (01:00 UTC)  until 2026-12-07 03:00 CET (02:00 UTC)"
		at, err := time.Parse("2006-01-02 15:04", l[:16])
		if err != nil || at.Weekday() != time.Monday || !strings.Contains(l, " UTC)") {
			t.Errorf("opening %q: %v", l, err)
		}
	}
	if _, _, code := cli(t, "schedule", "--format", "cron", weekly); code != exitcode.Usage {
		t.Errorf("--format cron: exit %d", code)
	}
}
