package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/reports"
)

func copyGoldenReport(t *testing.T, dir string) *reports.Report {
	t.Helper()
	r, err := reports.Load("../../reports/testdata/golden/report.json")
	if err != nil {
		t.Fatal(err)
	}
	writeReport(t, dir, r)
	return r
}

// writeReport stores r as dir's report.json.
func writeReport(t *testing.T, dir string, r *reports.Report) {
	t.Helper()
	b, err := reports.MarshalJSON(r)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, reports.FileJSON), string(b))
}

func TestReportRerender(t *testing.T) {
	dir := t.TempDir()
	copyGoldenReport(t, dir)
	out, code, err := runCLI(t, "report", dir)
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	for _, f := range reports.Files {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(filepath.Join("../../reports/testdata/golden", f))
		if string(got) != string(want) {
			t.Errorf("re-rendered %s differs from the golden file", f)
		}
	}
	if _, code, _ := runCLI(t, "report", t.TempDir()); code != exitcode.Usage {
		t.Errorf("report of a dir without report.json: exit %d", code)
	}
}

// TestReportCompare: a p95 50 % higher in a critical metric makes the
// comparison worse and the command exit 1, the release gate; reports
// without samples are judged by tolerance alone and the output says so.
func TestReportCompare(t *testing.T) {
	hist := t.TempDir()
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i, p95 := range []float64{1.2, 1.5, 1.8} {
		d := filepath.Join(hist, string(rune('a'+i)))
		r := copyGoldenReport(t, d)
		r.StartedAt = t0.AddDate(0, 0, 7*i)
		r.Latency.P95 = p95
		writeReport(t, d, r)
	}
	out, code, err := runCLI(t, "report", "--compare", filepath.Join(hist, "a"), filepath.Join(hist, "c"))
	for _, want := range []string{"| latency_p95 | 1.200 s | 1.800 s | +600.0 ms | +50.0% | none | - | - | worse (critical) |", "WARNING: ", "has no samples", "Verdict: worse"} {
		if code != exitcode.Fail || !strings.Contains(out, want) {
			t.Errorf("compare: exit %d %v, want 1 and %q in\n%s", code, err, want, out)
		}
	}
	if _, code, _ := runCLI(t, "report", "--compare", filepath.Join(hist, "a"), filepath.Join(hist, "c"), "--tolerance", "latency_p95=60%"); code != exitcode.Pass {
		t.Errorf("compare within a 60%% tolerance: exit %d, want 0", code)
	}
	if _, code, _ := runCLI(t, "report", "--compare", filepath.Join(hist, "a"), filepath.Join(hist, "c"), "--tolerance", "latency_p95=fast"); code != exitcode.Usage {
		t.Errorf("compare with a bad tolerance: exit %d, want 2", code)
	}
	if _, code, _ := runCLI(t, "report", "--compare", hist); code != exitcode.Usage {
		t.Errorf("compare with one arg: exit %d", code)
	}
}
