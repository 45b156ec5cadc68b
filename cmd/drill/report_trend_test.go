package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/reports"
)

var trendCLIT0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// writeTrendHistory writes n runs of plan into dir/<plan>-<i>, one every
// `every`, whose p95 is 1 s + slope·day with a deterministic ±2 % noise;
// the golden report's SLO on p95 is 2 s.
func writeTrendHistory(t *testing.T, dir, plan string, n int, every time.Duration, slope float64) {
	t.Helper()
	noise := []float64{+0.020, -0.015, +0.010, -0.020, +0.005, +0.018, -0.012, -0.004, +0.015, -0.019}
	for i := range n {
		d := filepath.Join(dir, plan+"-"+strconv.Itoa(i))
		r := copyGoldenReport(t, d)
		r.Plan, r.Stack, r.RunID = plan, "containers", plan+"-"+strconv.Itoa(i)
		r.StartedAt = trendCLIT0.Add(time.Duration(i) * every)
		r.Latency.P95 = (1 + slope*r.StartedAt.Sub(trendCLIT0).Hours()/24) * (1 + noise[i%len(noise)])
		writeReport(t, d, r)
	}
}

const trendWeek = 7 * 24 * time.Hour

// TestReportTrend: ten weekly runs whose p95 rises 10 ms/day from 1 s
// against the runs' 2 s objective: the table's crossing is within 10 % of
// the true 37 days after the newest run, with a high-priority
// maintenance; --json carries the same.
func TestReportTrend(t *testing.T) {
	hist := t.TempDir()
	writeTrendHistory(t, hist, "gpu-failover", 10, trendWeek, 0.010)
	out, code, err := runCLI(t, "report", "--trend", hist)
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	row := regexp.MustCompile(`\| latency_p95 \| 10 \| .* \| worsening \| [0-9.]+% \| 2\.000 s \| (\d{4}-\d\d-\d\d), in (\d+) days`).FindStringSubmatch(out)
	if row == nil {
		t.Fatalf("no worsening latency_p95 row with a crossing:\n%s", out)
	}
	// 1 s + 10 ms/day reaches 2 s on day 100; the newest run is on day 63.
	if days, _ := strconv.Atoi(row[2]); math.Abs(float64(days)-37) > 3.7 {
		t.Errorf("crossing in %d days, true 37", days)
	}
	for _, want := range []string{`# Trend of plan "gpu-failover" on stack "containers"`, "10 runs from 2026-11-02 to 2027-01-04",
		"above 70%, with high priority above 85%", "- **high** latency_p95: before "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, code, err = runCLI(t, "report", "--trend", "--json", "--now", "2027-01-10T00:00:00Z", hist)
	var tr reports.TrendReport
	if code != exitcode.Pass || json.Unmarshal([]byte(out), &tr) != nil {
		t.Fatalf("--json: exit %d %v\n%s", code, err, out)
	}
	if len(tr.Runs) != 10 || tr.Runs[0].Dir != filepath.Join(hist, "gpu-failover-0") || !tr.Now.Equal(time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC)) ||
		len(tr.Suggestions) != 1 || tr.Suggestions[0].Priority != reports.PriorityHigh {
		t.Errorf("--json: runs %+v now %v suggestions %+v", tr.Runs, tr.Now, tr.Suggestions)
	}
}

// TestReportTrendRefuses: what cannot be fitted exits 2 and says why and
// which flag to change.
func TestReportTrendRefuses(t *testing.T) {
	mixed := t.TempDir()
	writeTrendHistory(t, mixed, "gpu-failover", 6, trendWeek, 0.01)
	writeTrendHistory(t, mixed, "quarterly-dr", 5, trendWeek, 0.01)
	few := t.TempDir()
	writeTrendHistory(t, few, "gpu-failover", 3, trendWeek, 0.01)
	short := t.TempDir()
	writeTrendHistory(t, short, "gpu-failover", 10, 2*time.Hour/9, 0.01)
	broken := t.TempDir()
	writeTrendHistory(t, broken, "gpu-failover", 5, trendWeek, 0.01)
	bad := filepath.Join(broken, "gpu-failover-3", reports.FileJSON)
	if err := os.WriteFile(bad, []byte(`{"schema_version": 1, "plan": `), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		says []string
	}{
		{"mixed plans", []string{mixed}, []string{`plan "gpu-failover" on stack "containers": 6 runs`, `plan "quarterly-dr" on stack "containers": 5 runs`, "--plan NAME"}},
		{"no such plan", []string{"--plan", "nope", mixed}, []string{`no run of plan "nope"`, `plan "quarterly-dr"`}},
		{"three runs", []string{few}, []string{"3 runs", "minimum of 5", "--min-runs"}},
		{"two hours", []string{short}, []string{"10 runs", "(2h0m)", "minimum of 7.0 days", "--min-span"}},
		{"broken report.json", []string{broken}, []string{bad}},
		{"min-runs 2", []string{"--min-runs", "2", few}, []string{"--min-runs 2"}},
		{"level 2", []string{"--level", "2", few}, []string{"--level 2"}},
		{"bad --now", []string{"--now", "tomorrow", few}, []string{`--now "tomorrow"`, "RFC 3339"}},
		{"unknown threshold", []string{"--threshold", "rpo=3", few}, []string{`--threshold "rpo=3"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, code, err := runCLI(t, append([]string{"report", "--trend"}, c.args...)...)
			if code != exitcode.Usage || err == nil {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, exitcode.Usage, out)
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not say %q", err, s)
				}
			}
		})
	}
	for _, args := range [][]string{{"--plan", "quarterly-dr", mixed}, {"--min-runs", "3", few}, {"--min-span", "1h", short}, {"--min-span", "0", short}} {
		if out, code, err := runCLI(t, append([]string{"report", "--trend"}, args...)...); code != exitcode.Pass {
			t.Errorf("%q: exit %d %v\n%s", args, code, err, out)
		}
	}
}

// TestReportTrendCompletesPlans: --plan and --stack complete with the
// names in the DIRs typed.
func TestReportTrendCompletesPlans(t *testing.T) {
	hist := t.TempDir()
	writeTrendHistory(t, hist, "gpu-failover", 2, trendWeek, 0)
	writeTrendHistory(t, hist, "quarterly-dr", 2, trendWeek, 0)
	for flag, want := range map[string][]string{"--plan": {"gpu-failover", "quarterly-dr"}, "--stack": {"containers"}} {
		got, _ := complete(t, "report", "--trend", hist, flag, "")
		if !slices.Equal(got, want) {
			t.Errorf("%s completes %q, want %q", flag, got, want)
		}
	}
}
