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
	f.Fuzz(func(t *testing.T, in string) {
		objs, err := slo.ParseOpenSLO([]byte(in))
		if err != nil {
			return
		}
		for _, o := range objs {
			if err := o.Validate(); err != nil {
				t.Fatalf("accepted document gives an invalid objective: %v", err)
			}
		}
	})
}
