package drill

import (
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/reports"
)

func TestCompareWindows(t *testing.T) {
	ms := time.Millisecond
	cfg := compareConfig{tolerance: 0.25, minDelta: 50 * ms, errFloor: 0.01, minSamples: 20}
	steady := WindowStats{Total: 200, Good: 200, Throughput: 20, P50: 10 * ms, P95: 20 * ms, LatencyCount: 200, TTFTCount: 20, TTFTP95: 8 * ms}
	with := func(f func(*WindowStats)) WindowStats { w := steady; f(&w); return w }
	tests := []struct {
		name   string
		after  WindowStats
		metric string
		want   string
		detail string // a substring of the row's detail
	}{
		{"within tolerance", with(func(w *WindowStats) { w.P95 = 24 * ms }), reports.MetricNameLatencyP95, reports.ComparisonOK, ""},
		{"better", with(func(w *WindowStats) { w.P95 = 5 * ms }), reports.MetricNameLatencyP95, reports.ComparisonOK, ""},
		{"beyond tolerance under the floor", with(func(w *WindowStats) { w.P50 = 30 * ms }), reports.MetricNameLatencyP50, reports.ComparisonUnderFloor, "under the floor of 50ms"},
		{"regression", with(func(w *WindowStats) { w.P95 = 320 * ms }), reports.MetricNameLatencyP95, reports.ComparisonRegression,
			"latency_p95 20ms -> 320ms (+1500.0%), beyond the 25% tolerance and the 50ms floor"},
		{"missing TTFT", with(func(w *WindowStats) { w.TTFTCount, w.TTFTP95 = 0, 0 }), reports.MetricNameTTFTP95, reports.ComparisonNotMeasured, "after window: no successful streamed request"},
		{"TTFT regression", with(func(w *WindowStats) { w.TTFTP95 = 400 * ms }), reports.MetricNameTTFTP95, reports.ComparisonRegression, "ttft_p95 8ms -> 400ms"},
		{"throughput drop", with(func(w *WindowStats) { w.Throughput = 10 }), "throughput", reports.ComparisonRegression, "throughput 20.00 req/s -> 10.00 req/s (-50.0%)"},
		{"throughput rise", with(func(w *WindowStats) { w.Throughput = 30 }), "throughput", reports.ComparisonOK, ""},
		{"errors from none, under the floor", with(func(w *WindowStats) { w.ErrorRate = 0.005 }), reports.MetricNameErrorRate, reports.ComparisonUnderFloor, "worse by 0.5%"},
		{"errors from none, regression", with(func(w *WindowStats) { w.ErrorRate = 0.1 }), reports.MetricNameErrorRate, reports.ComparisonRegression, "error_rate 0% -> 10%, beyond"},
		{"too few samples", with(func(w *WindowStats) { w.Total = 5 }), reports.MetricNameLatencyP95, reports.ComparisonNotMeasured, "after window: 5 probe requests, fewer than min_samples 20"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows := compareWindows(steady, tc.after, cfg)
			if len(rows) != 5 {
				t.Fatalf("%d rows, want 5 (p50, p95, TTFT, throughput, error rate)", len(rows))
			}
			var row *reports.ComparisonRow
			for i := range rows {
				if rows[i].Metric == tc.metric {
					row = &rows[i]
				} else if rows[i].Verdict == reports.ComparisonRegression {
					t.Errorf("%s regressed: %s", rows[i].Metric, rows[i].Detail)
				}
			}
			if row == nil {
				t.Fatalf("no row for %s", tc.metric)
			}
			if row.Verdict != tc.want || !strings.Contains(row.Detail, tc.detail) {
				t.Errorf("%s: verdict %q detail %q; want %q containing %q", tc.metric, row.Verdict, row.Detail, tc.want, tc.detail)
			}
			if row.Verdict == reports.ComparisonNotMeasured && (row.Baseline != nil || row.After != nil) {
				t.Errorf("a metric not measured has values %v %v", row.Baseline, row.After)
			}
		})
	}
}

func TestTrafficLogWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tl := NewTrafficLog(0)
	for i := range 10 {
		r := probe.Result{Start: t0.Add(time.Duration(i) * 100 * time.Millisecond), Latency: time.Duration(i+1) * time.Millisecond, Outcome: probe.OK}
		if i == 3 {
			r.Outcome, r.Latency = probe.Error, 5*time.Second // a failure's latency is not the service's speed
		}
		if i%5 == 0 {
			r.TTFT = time.Duration(i+1) * 100 * time.Microsecond
		}
		tl.Add(r)
	}
	w := tl.Window(t0, t0.Add(time.Second))
	if w.Total != 10 || w.Good != 9 || w.Failed != 1 || w.ErrorRate != 0.1 || w.Throughput != 9 {
		t.Errorf("counts %+v", w)
	}
	if w.P95 != 10*time.Millisecond || w.P50 != 6*time.Millisecond {
		t.Errorf("p50 %v p95 %v, want 6ms and 10ms (failures left out)", w.P50, w.P95)
	}
	if w.TTFTCount != 2 || w.TTFTP95 != 600*time.Microsecond {
		t.Errorf("TTFT %d samples p95 %v", w.TTFTCount, w.TTFTP95)
	}
}
