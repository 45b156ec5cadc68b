package kube

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aiuptime/aiuptime/k6run"
)

func part(index, exit int, d time.Duration, metrics map[string]k6run.Metric) Part {
	return Part{Index: index, ExitCode: exit, Summary: &k6run.Summary{Metrics: metrics, Duration: d, ExitCode: exit}}
}

func vals(kv map[string]float64) k6run.Metric { return k6run.Metric{Values: kv} }

func TestMerge(t *testing.T) {
	a := part(0, 0, 10*time.Second, map[string]k6run.Metric{
		"iterations":    vals(map[string]float64{"count": 30, "rate": 3}),
		"aiuptime_up":   {Values: map[string]float64{"passes": 29, "fails": 1, "rate": 29.0 / 30}, Thresholds: map[string]bool{"rate>=0.99": false}},
		"aiuptime_ttft": vals(map[string]float64{"count": 30, "avg": 10, "min": 2, "max": 40, "med": 9, "p(95)": 30}),
		"vus":           vals(map[string]float64{"value": 2, "min": 1, "max": 2}),
	})
	b := part(1, 0, 8*time.Second, map[string]k6run.Metric{
		"iterations":    vals(map[string]float64{"count": 10, "rate": 1.25}),
		"aiuptime_up":   {Values: map[string]float64{"passes": 10, "fails": 0, "rate": 1}, Thresholds: map[string]bool{"rate>=0.99": true}},
		"aiuptime_ttft": vals(map[string]float64{"count": 10, "avg": 30, "min": 1, "max": 90, "med": 25, "p(95)": 80}),
		"vus":           vals(map[string]float64{"value": 3, "min": 0, "max": 3}),
	})
	m, err := Merge([]Part{b, a}) // out of order on purpose
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]float64{
		"iterations":    {"count": 40, "rate": 4},                      // 40 over the longest runner's 10 s
		"aiuptime_up":   {"passes": 39, "fails": 1, "rate": 39.0 / 40}, // exact
		"aiuptime_ttft": {"count": 40, "avg": 15, "min": 1, "max": 90, "med": 25, "p(95)": 80},
		"vus":           {"value": 5, "min": 0, "max": 3},
	}
	got := map[string]map[string]float64{}
	for name, mt := range m.Summary.Metrics {
		got[name] = mt.Values
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("merged values (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(QuantileBounds{PerPod: []float64{30, 80}, Min: 30, Max: 80}, m.Quantiles["aiuptime_ttft"]["p(95)"]); diff != "" {
		t.Errorf("p(95) bounds (-want +got):\n%s", diff)
	}
	wantNotes := []string{
		"aiuptime_ttft med: per runner [9 25]; merged value 25 is the largest runner's, an upper bound; the true value lies in [9, 25]",
		"aiuptime_ttft p(95): per runner [30 80]; merged value 80 is the largest runner's, an upper bound; the true value lies in [30, 80]",
	}
	if diff := cmp.Diff(wantNotes, m.QuantileNotes()); diff != "" {
		t.Errorf("quantile notes (-want +got):\n%s", diff)
	}
	if m.Summary.Metrics["aiuptime_up"].Thresholds["rate>=0.99"] {
		t.Error("a threshold that failed on one runner passed the merge")
	}
	if m.Summary.Duration != 10*time.Second || m.Parts[0].Index != 0 {
		t.Errorf("duration %v, first part %d", m.Summary.Duration, m.Parts[0].Index)
	}
}

func TestMergeExitCodes(t *testing.T) {
	tests := []struct {
		codes []int
		want  int
	}{
		{[]int{0, 0}, 0},
		{[]int{0, 99}, 99},
		{[]int{99, 107}, 107},
		{[]int{107, 99}, 107},
	}
	for _, tt := range tests {
		var parts []Part
		for i, c := range tt.codes {
			parts = append(parts, part(i, c, time.Second, map[string]k6run.Metric{}))
		}
		m, err := Merge(parts)
		if err != nil {
			t.Fatal(err)
		}
		if m.Summary.ExitCode != tt.want {
			t.Errorf("exit codes %v merged to %d, want %d", tt.codes, m.Summary.ExitCode, tt.want)
		}
	}
	if _, err := Merge([]Part{{Index: 3, Pod: "p-3"}}); err == nil || !strings.Contains(err.Error(), "p-3") {
		t.Errorf("a part without summary: %v", err)
	}
}

// TestParseLog reads a summary out of a log that also holds k6's text
// summary, log lines and braces.
func TestParseLog(t *testing.T) {
	js, err := os.ReadFile("../testdata/summary-export.json")
	if err != nil {
		t.Fatal(err)
	}
	log := "time=\"...\" level=warning msg=\"a {brace} in a log line\"\n{\"not\": \"a summary\"}\n" +
		string(js) + "\n\n  █ TOTAL RESULTS\n    checks_total.......: 5\n"
	s, err := ParseLog([]byte(log))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := k6run.ParseSummary(js)
	if diff := cmp.Diff(want, s, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("summary from log (-want +got):\n%s", diff)
	}
	if _, err := ParseLog([]byte("k6 crashed\n")); err == nil {
		t.Error("a log without summary parsed")
	}
}
