package slo_test

import (
	"testing"

	"github.com/aiuptime/aiuptime/slo"
)

func FuzzParseSpec(f *testing.F) {
	f.Add("availability: 99.0\nlatency_p95: 2s\nerror_rate: 1%\n")
	f.Add("goodput: {ttft: 500ms, tpot: 50ms, attainment: \"95%\", min_rps: 5}\n")
	f.Add("{\"availability\": \"99.9%\", \"throughput\": 10}")
	f.Add("recovery_time: 15s\nttft_p95: 500ms\nrto: 1m\nrpo: 5m\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := slo.ParseSpec([]byte(in))
		if err != nil {
			return
		}
		for _, o := range s.Objectives() {
			if err := o.Validate(); err != nil {
				t.Fatalf("accepted spec %q gives an invalid objective: %v", in, err)
			}
		}
	})
}

func FuzzParseOpenSLO(f *testing.F) {
	f.Add("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  indicator:\n    spec:\n      ratioMetric: {counter: true}\n  objectives: [{target: 0.99}]\n")
	f.Add("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: l}\nspec:\n  indicator:\n    spec:\n      thresholdMetric: {metricSource: {spec: {query: latency}}}\n  timeWindow: [{duration: 7d}]\n  objectives: [{op: lte, value: 2, target: 0.95}]\n")
	f.Add("apiVersion: openslo/v1\nkind: SLI\nmetadata: {name: s}\nspec: {thresholdMetric: {metricSource: {type: Prometheus, spec: {query: q}}}}\n---\n" +
		"apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: l}\nspec:\n  indicatorRef: s\n  budgetingMethod: Occurrences\n  timeWindow: [{duration: 1M, calendar: {startTime: 2024-01-01 00:00:00, timeZone: UTC}}]\n  objectives: [{op: lte, value: 2, target: 0.95}]\n")
	f.Add("- apiVersion: openslo/v1\n  kind: SLO\n  metadata: {name: r}\n  spec:\n    indicator: {spec: {ratioMetric: {counter: true, bad: {metricSource: {type: Prometheus, spec: {query: b}}}, total: {metricSource: {type: Prometheus, spec: {query: t}}}}}}\n    budgetingMethod: Timeslices\n    objectives: [{targetPercent: 99, timeSliceTarget: 0.9, timeSliceWindow: 1}]\n")
	f.Fuzz(func(t *testing.T, in string) {
		set, err := slo.ParseOpenSLO("fuzz.yaml", []byte(in))
		if err != nil {
			return
		}
		if len(set.Objectives) == 0 {
			t.Fatalf("accepted document %q gives no objective", in)
		}
		for _, o := range set.Objectives {
			if err := o.Validate(); err != nil {
				t.Fatalf("accepted document gives an invalid objective: %v", err)
			}
		}
	})
}
