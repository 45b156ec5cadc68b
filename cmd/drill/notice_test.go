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
