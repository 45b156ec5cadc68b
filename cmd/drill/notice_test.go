package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/notice"
	"github.com/aiuptime/aiuptime/reports"
)

func TestNotice(t *testing.T) {
	const realPlan, realHistory = "../../notice/testdata/gateway-restart.yaml", "../../notice/testdata/history"
	other := t.TempDir()
	writeReport(t, filepath.Join(other, "x"), &reports.Report{SchemaVersion: reports.SchemaVersion, Plan: "container-loss",
		StartedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Outages: []reports.Outage{{DurationSeconds: 99}}})

	out, code, err := runCLI(t, "notice", realPlan, "--history", realHistory+","+other, "--at", "2026-12-07T09:00:00Z")
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	for _, want := range []string{"# Maintenance notice: notice-gateway-restart", "3 earlier runs of notice-gateway-restart",
		"skipped 1 report of other plans", "From 3 earlier runs of this plan", "No window: any time."} {
		if !strings.Contains(out, want) {
			t.Errorf("drill notice lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "99.000 s") {
		t.Errorf("drill notice counts another plan's outage:\n%s", out)
	}

	dir := filepath.Join(t.TempDir(), "notice")
	if out, code, err := runCLI(t, "notice", "emergency-patch", "--out", dir); code != exitcode.Pass {
		t.Fatalf("--out: exit %d: %v\n%s", code, err, out)
	}
	for _, f := range []string{notice.FileMarkdown, notice.FileHTML} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !strings.Contains(string(b), "No earlier run of this plan is known") {
			t.Errorf("%s: %v\n%s", f, err, b)
		}
	}
}

func TestNoticeWindow(t *testing.T) {
	dir := t.TempDir()
	const steps = "steps:\n  - name: s\n    wait: 1s\n"
	tests := []struct {
		name, window, want string
	}{
		{"next window in its zone and UTC", `{days: [sat], start: "02:00", end: "06:00", tz: Europe/Berlin, cadence: monthly}`,
			"Next window: Sat 2027-01-02 02:00 to 06:00 CET (Europe/Berlin), that is Sat 2027-01-02 01:00 to 05:00 UTC."},
		{"critical", `{days: [sat], start: "02:00", end: "06:00", critical: true}`, "Critical: applied at once"},
		{"any", "any", "Any time"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, string(rune('a'+i))+".yaml")
			writeFile(t, p, "name: w\nwindow: "+tc.window+"\n"+steps)
			out, code, err := runCLI(t, "notice", p, "--at", "2026-12-07T09:00:00Z")
			if code != exitcode.Pass || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d (%v), want %q:\n%s", code, err, tc.want, out)
			}
		})
	}
}

func TestNoticeRefuses(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "run-1", reports.FileJSON)
	writeFile(t, bad, "{\"schema_version\": 2, \"plan\": \"emergency-patch\"\n,,")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"malformed report", []string{"notice", "emergency-patch", "--history", filepath.Dir(filepath.Dir(bad))}, bad + ":2:"},
		{"missing history dir", []string{"notice", "emergency-patch", "--history", "/nonexistent/runs"}, "/nonexistent/runs"},
		{"unknown plan", []string{"notice", "no-such-plan"}, "no-such-plan"},
		{"bad --at", []string{"notice", "emergency-patch", "--at", "tomorrow"}, "--at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code, err := runCLI(t, tc.args...)
			if code != exitcode.Usage || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("exit %d, %v, want exit 2 naming %q\n%s", code, err, tc.want, out)
			}
		})
	}
}
