package reports

import (
	"encoding/xml"
	"strings"
	"testing"
)

// streamless is the sample report of a run that streamed nothing: no TTFT,
// ITL or TPOT samples, as report.json writes them (count 0, percentiles 0).
func streamless() *Report {
	r := sampleReport("x")
	r.TTFT, r.ITL, r.TPOT = Quantiles{}, Quantiles{}, Quantiles{}
	return r
}

func TestQuantilesMeasured(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    Quantiles
		want bool
	}{
		{"no samples", Quantiles{}, false},
		{"samples", Quantiles{P50: 0.01, P95: 0.02, P99: 0.03, Count: 12}, true},
		{"one sample of 0 s", Quantiles{Count: 1}, true},
		{"report.json before count", Quantiles{P50: 0.01, P95: 0.02, P99: 0.03}, true},
	} {
		if got := tc.q.Measured(); got != tc.want {
			t.Errorf("%s: Measured() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestNotMeasuredInEveryOutput: TTFT, ITL and TPOT without samples say
// "not measured" in report.md, the HTML cards and JUnit, and are absent
// from drill.prom; with samples every output carries the numbers.
func TestNotMeasuredInEveryOutput(t *testing.T) {
	for _, tc := range []struct {
		name     string
		r        *Report
		measured bool
	}{
		{"not measured", streamless(), false},
		{"measured", sampleReport("x"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md, err := Markdown(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			page, err := HTML(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			prom, err := Prom(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			props := map[string]string{}
			for _, p := range JUnitOf(tc.r).Suites[0].Properties {
				props[p.Name] = p.Value
			}
			for _, m := range []struct {
				row, prop, gauge string
				q                Quantiles
			}{
				{"TTFT", "ttft_seconds.p95", MetricTTFTP95, tc.r.TTFT},
				{"ITL", "itl_seconds.p95", MetricITLP95, tc.r.ITL},
				{"TPOT", "tpot_seconds.p95", MetricTPOTP95, tc.r.TPOT},
			} {
				value := fmtSeconds(m.q.P50) + " / " + fmtSeconds(m.q.P95) + " / " + fmtSeconds(m.q.P99)
				prop := num(m.q.P95)
				if !tc.measured {
					value, prop = NotMeasured, NotMeasured
				}
				if want := "| " + m.row + " p50 / p95 / p99 | " + value + " |"; !strings.Contains(string(md), want) {
					t.Errorf("report.md lacks %q", want)
				}
				if want := "<span>" + m.row + ` p50 / p95 / p99</span><b style="font-size:15px">` + value + "</b>"; !strings.Contains(string(page), want) {
					t.Errorf("report.html lacks the card %q", want)
				}
				if got, ok := props[m.prop]; !ok || got != prop {
					t.Errorf("junit property %s = %q (present %v), want %q", m.prop, got, ok, prop)
				}
				if got := strings.Contains(string(prom), m.gauge+"{"); got != tc.measured {
					t.Errorf("drill.prom has %s: %v, want %v", m.gauge, got, tc.measured)
				}
			}
			for _, out := range []string{string(md), string(page)} {
				if strings.Contains(out, "0.000 s / 0.000 s / 0.000 s") {
					t.Errorf("an output claims percentiles of 0 s:\n%s", out)
				}
			}
			var doc JUnitSuites
			b, _ := JUnit(tc.r)
			if err := xml.Unmarshal(b, &doc); err != nil {
				t.Fatalf("junit.xml does not parse: %v", err)
			}
		})
	}
}

// TestOldReportWithoutCount: a report.json written before count existed
// renders its real percentiles, and its all-0 TTFT as not measured.
func TestOldReportWithoutCount(t *testing.T) {
	r := sampleReport("x")
	r.Latency.Count, r.TTFT = 0, Quantiles{}
	md, err := Markdown(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| Latency p50 / p95 / p99 | 120.0 ms / 2.400 s / 4.100 s |", "| TTFT p50 / p95 / p99 | not measured |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// TestCompareNotMeasured: a measure neither run has is "not measured",
// one run lacks is "not comparable"; neither is ever a change.
func TestCompareNotMeasured(t *testing.T) {
	measured := sampleReport("x")
	for _, tc := range []struct {
		name          string
		before, after *Report
		verdict       string
		before0       bool // Before is null
		after0        bool
	}{
		{"neither", streamless(), streamless(), NotMeasured, true, true},
		{"before only", measured, streamless(), VerdictNotComparable, false, true},
		{"after only", streamless(), measured, VerdictNotComparable, true, false},
		{"both", measured, measured, "same", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compare(tc.before, tc.after, CompareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var d Delta
			for _, x := range c.Deltas {
				if x.Metric == MetricNameTTFTP95 {
					d = x
				}
			}
			if d.Verdict != tc.verdict || (d.Before == nil) != tc.before0 || (d.After == nil) != tc.after0 {
				t.Fatalf("ttft_p95 delta %+v, want verdict %q, before null %v, after null %v", d, tc.verdict, tc.before0, tc.after0)
			}
			if (tc.before0 || tc.after0) && (d.Change != 0 || d.Missing != NotMeasured) {
				t.Errorf("ttft_p95 delta %+v: a change or no reason", d)
			}
			if tc.before0 && !strings.Contains(c.Markdown(), "| ttft_p95 | not measured |") {
				t.Errorf("comparison table does not say not measured:\n%s", c.Markdown())
			}
		})
	}
}
