package slo_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/slo"
)

const day = 24 * time.Hour

// ratioSLO is an availability SLO with a Prometheus good/total indicator;
// %s places extra lines under spec.
const ratioSLO = `apiVersion: openslo/v1
kind: SLO
metadata:
  name: avail
spec:
  service: gateway
  indicator:
    metadata:
      name: good-requests
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: good_total
        total:
          metricSource:
            type: Prometheus
            spec:
              query: all_total
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.999
`

// latencySLI and latencySLO: a thresholdMetric SLI and the SLO naming it.
const latencySLI = `apiVersion: openslo/v1
kind: SLI
metadata:
  name: latency
spec:
  thresholdMetric:
    metricSource:
      type: Prometheus
      spec:
        query: histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))
`

const latencySLO = `apiVersion: openslo/v1
kind: SLO
metadata:
  name: fast
spec:
  service: gateway
  indicatorRef: latency
  budgetingMethod: Occurrences
  objectives:
    - op: lte
      value: 2
      target: 0.95
`

func TestParseOpenSLOGood(t *testing.T) {
	for _, c := range []struct {
		name   string
		doc    string
		want   []slo.Objective
		ratios int
	}{
		{"ratio good/total, rolling 28d", ratioSLO,
			[]slo.Objective{{Name: "avail", Kind: slo.KindAvailability, Target: 0.999, Period: 28 * day}}, 1},
		{"ratio bad/total, Timeslices, targetPercent",
			strings.NewReplacer("good:", "bad:", "Occurrences", "Timeslices",
				"- target: 0.999", "- targetPercent: 99.5\n      timeSliceTarget: 0.9\n      timeSliceWindow: 1m").Replace(ratioSLO),
			[]slo.Objective{{Name: "avail", Kind: slo.KindAvailability, Target: 0.995, Period: 28 * day,
				TimeBased: true, SliceWindow: time.Minute, SliceTarget: 0.9}}, 1},
		{"RatioTimeslices, window in minutes as a number",
			strings.NewReplacer("Occurrences", "RatioTimeslices", "- target: 0.999", "- target: 0.99\n      timeSliceWindow: 5").Replace(ratioSLO),
			[]slo.Objective{{Name: "avail", Kind: slo.KindAvailability, Target: 0.99, Period: 28 * day,
				TimeBased: true, SliceWindow: 5 * time.Minute, SliceMean: true}}, 1},
		{"calendar month from 1 February 2024 (29 days)",
			strings.Replace(ratioSLO, "- duration: 28d\n      isRolling: true",
				"- duration: 1M\n      calendar:\n        startTime: 2024-02-01 00:00:00\n        timeZone: Europe/Berlin", 1),
			[]slo.Objective{{Name: "avail", Kind: slo.KindAvailability, Target: 0.999, Period: 29 * day}}, 1},
		{"calendar quarter", strings.Replace(ratioSLO, "- duration: 28d\n      isRolling: true",
			"- duration: 1Q\n      isRolling: false\n      calendar: {startTime: 2024-01-01 00:00:00, timeZone: UTC}", 1),
			[]slo.Objective{{Name: "avail", Kind: slo.KindAvailability, Target: 0.999, Period: 91 * day}}, 1},
		{"latency via indicatorRef, SLI after the SLO", latencySLO + "---\n" + latencySLI,
			[]slo.Objective{{Name: "fast", Kind: slo.KindLatency, Target: 2, Percentile: 0.95}}, 0},
		{"ttft in ms by annotation", strings.Replace(latencySLI, "  name: latency\n",
			"  name: latency\n  annotations: {aiuptime/measure: ttft, aiuptime/unit: ms}\n", 1) + "---\n" +
			strings.Replace(latencySLO, "value: 2", "value: 500", 1),
			[]slo.Objective{{Name: "fast", Kind: slo.KindTTFT, Target: 0.5, Percentile: 0.95}}, 0},
		{"lower bound: not evaluated", latencySLI + "---\n" + strings.Replace(latencySLO, "op: lte", "op: gte", 1),
			[]slo.Objective{{Name: "fast", Kind: slo.KindThreshold, Target: 2,
				NotEvaluated: "op gte bounds a quantity from below, and the probe measures no such quantity (annotate aiuptime/measure to say what it is)"}}, 0},
		{"time-sliced threshold: not evaluated", latencySLI + "---\n" + strings.NewReplacer("Occurrences", "Timeslices",
			"target: 0.95", "target: 0.95\n      timeSliceTarget: 0.9\n      timeSliceWindow: 1m").Replace(latencySLO),
			[]slo.Objective{{Name: "fast", Kind: slo.KindLatency, Target: 2,
				NotEvaluated: "Timeslices budgeting of a threshold needs a per-slice latency the probe does not compute (use Occurrences)"}}, 0},
		{"ratio annotated none", strings.Replace(ratioSLO, "  name: avail\n", "  name: avail\n  annotations: {aiuptime/measure: none}\n", 1),
			[]slo.Objective{{Name: "avail", Kind: slo.KindAvailability, Target: 0.999, Period: 28 * day,
				NotEvaluated: "annotated aiuptime/measure: none"}}, 1},
		{"a list of objects, other kinds skipped",
			"- apiVersion: openslo/v1\n  kind: Service\n  metadata: {name: gateway}\n  spec: {description: d}\n" +
				"- " + strings.ReplaceAll(strings.TrimSuffix(latencySLI, "\n"), "\n", "\n  ") + "\n" +
				"- " + strings.ReplaceAll(strings.TrimSuffix(latencySLO, "\n"), "\n", "\n  ") + "\n",
			[]slo.Objective{{Name: "fast", Kind: slo.KindLatency, Target: 2, Percentile: 0.95}}, 0},
		{"two objectives are named by displayName", strings.Replace(ratioSLO, "- target: 0.999",
			"- {displayName: nines, target: 0.999}\n    - {displayName: floor, target: 0.99}", 1),
			[]slo.Objective{{Name: "avail/nines", Kind: slo.KindAvailability, Target: 0.999, Period: 28 * day},
				{Name: "avail/floor", Kind: slo.KindAvailability, Target: 0.99, Period: 28 * day}}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			set, err := slo.ParseOpenSLO("slos.yaml", []byte(c.doc))
			if err != nil {
				t.Fatalf("%v\n%s", err, c.doc)
			}
			if diff := cmp.Diff(c.want, set.Objectives); diff != "" {
				t.Errorf("objectives (-want +got):\n%s", diff)
			}
			if len(set.Ratios) != c.ratios {
				t.Errorf("%d ratio SLIs, want %d", len(set.Ratios), c.ratios)
			}
		})
	}
}

func TestParseOpenSLORatioQueries(t *testing.T) {
	set, err := slo.ParseOpenSLO("slos.yaml", []byte(strings.Replace(ratioSLO, "good:", "bad:", 1)))
	if err != nil {
		t.Fatal(err)
	}
	// The query text is the document's own; only its role changed.
	want := slo.RatioSLI{Name: "avail", Bad: "good_total", Total: "all_total", Counter: true, Target: set.Objectives[0]}
	if diff := cmp.Diff([]slo.RatioSLI{want}, set.Ratios); diff != "" {
		t.Errorf("ratio SLIs (-want +got):\n%s", diff)
	}
}

// TestParseOpenSLOBad: every broken document is refused with the file,
// line, column and field of the problem.
func TestParseOpenSLOBad(t *testing.T) {
	for _, c := range []struct {
		name, doc, want string
	}{
		{"wrong apiVersion", strings.Replace(ratioSLO, "openslo/v1", "openslo/v2", 1), `slos.yaml:1:13: apiVersion: "openslo/v2": want openslo/v1`},
		{"unknown kind", strings.Replace(ratioSLO, "kind: SLO", "kind: Dashboard", 1), `slos.yaml:2:7: kind: "Dashboard"`},
		{"unknown key", strings.Replace(ratioSLO, "  service: gateway", "  service: gateway\n  colour: blue", 1), "slos.yaml:7:3: spec.colour: unknown key"},
		{"no name", strings.Replace(ratioSLO, "  name: avail\n", "  displayName: x\n", 1), "slos.yaml:4:3: metadata.name: required"},
		{"target 1", strings.Replace(ratioSLO, "target: 0.999", "target: 1", 1), "slos.yaml:28:15: spec.objectives[0].target: 1: want a fraction in [0, 1)"},
		{"targetPercent 100", strings.Replace(ratioSLO, "target: 0.999", "targetPercent: 100", 1), "slos.yaml:28:22: spec.objectives[0].targetPercent: 100: want a percentage in [0, 100)"},
		{"both targets", strings.Replace(ratioSLO, "target: 0.999", "target: 0.9\n      targetPercent: 90", 1), "slos.yaml:29:22: spec.objectives[0].targetPercent: give target or targetPercent"},
		{"no budgeting method", strings.Replace(ratioSLO, "  budgetingMethod: Occurrences\n", "", 1), "spec.budgetingMethod: required"},
		{"bad budgeting method", strings.Replace(ratioSLO, "Occurrences", "Events", 1), `slos.yaml:26:20: spec.budgetingMethod: "Events"`},
		{"Timeslices without window", strings.Replace(ratioSLO, "Occurrences", "Timeslices", 1), "slos.yaml:28:7: spec.objectives[0].timeSliceWindow: required with budgetingMethod Timeslices"},
		{"bad duration", strings.Replace(ratioSLO, "28d", "28x", 1), `slos.yaml:24:17: spec.timeWindow[0].duration: "28x": unknown unit "x"`},
		{"two windows", strings.Replace(ratioSLO, "      isRolling: true\n", "      isRolling: true\n    - duration: 7d\n      isRolling: true\n", 1), "slos.yaml:26:7: spec.timeWindow[1]: timeWindow holds exactly one window"},
		{"rolling and calendar", strings.Replace(ratioSLO, "isRolling: true", "isRolling: true\n      calendar: {startTime: 2024-01-01 00:00:00, timeZone: UTC}", 1), "spec.timeWindow[0].calendar: a rolling window has no calendar"},
		{"bad time zone", strings.Replace(ratioSLO, "isRolling: true", "calendar: {startTime: 2024-01-01 00:00:00, timeZone: Mars/Olympus}", 1), `spec.timeWindow[0].calendar.timeZone: "Mars/Olympus"`},
		{"bad start time", strings.Replace(ratioSLO, "isRolling: true", "calendar: {startTime: yesterday, timeZone: UTC}", 1), `spec.timeWindow[0].calendar.startTime: "yesterday"`},
		{"good and bad", strings.Replace(ratioSLO, "        total:", "        bad: {metricSource: {type: Prometheus, spec: {query: b}}}\n        total:", 1), "slos.yaml:18:15: spec.indicator.spec.ratioMetric.bad: give good or bad, not both"},
		{"no total", strings.Replace(ratioSLO, "        total:", "        totals:", 1), "spec.indicator.spec.ratioMetric.totals: unknown key"},
		{"value on a ratio", strings.Replace(ratioSLO, "target: 0.999", "target: 0.999\n      value: 3", 1), "slos.yaml:29:14: spec.objectives[0].value: only for a thresholdMetric"},
		{"indicator missing", strings.Replace(latencySLO, "  indicatorRef: latency\n", "", 1), "slos.yaml:6:3: spec: indicator or indicatorRef: one is required"},
		{"dangling indicatorRef", latencySLO, `slos.yaml:7:17: spec.indicatorRef: "latency": no SLI of that name in this file`},
		{"threshold without op", latencySLI + "---\n" + strings.Replace(latencySLO, "op: lte", "displayName: x", 1), `slos.yaml:21:7: spec.objectives[0].op: "": want lt, lte, gt or gte`},
		{"threshold without value", latencySLI + "---\n" + strings.Replace(latencySLO, "      value: 2\n", "", 1), "slos.yaml:21:7: spec.objectives[0].value: required for a thresholdMetric"},
		{"two threshold objectives", latencySLI + "---\n" + latencySLO + "    - {op: lte, value: 4, target: 0.99}\n", "slos.yaml:24:8: spec.objectives[1]: a thresholdMetric SLO has exactly one objective"},
		{"latency measure on a ratio", strings.Replace(ratioSLO, "      name: good-requests\n", "      name: good-requests\n      annotations: {aiuptime/measure: latency}\n", 1),
			`slos.yaml:10:39: spec.indicator.metadata.annotations.aiuptime/measure: "latency": for a ratioMetric want one of availability, none`},
		{"SLI defined twice", latencySLI + "---\n" + latencySLI + "---\n" + latencySLO, `slos.yaml:15:9: metadata.name: SLI "latency" is defined twice`},
		{"no SLO", latencySLI, "slos.yaml: no SLO object in the file"},
		{"not a mapping", "apiVersion: openslo/v1\n---\n- 3\n", "slos.yaml:3:3: an OpenSLO file is a mapping of keys, got a number"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := slo.ParseOpenSLO("slos.yaml", []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n%v\nwant it to contain %q", err, c.want)
			}
			var ye *yamldoc.Error
			if !errors.As(err, &ye) {
				t.Errorf("%T is no yamldoc error", err)
			}
		})
	}
}

func TestLoadOpenSLOExample(t *testing.T) {
	set, err := slo.LoadOpenSLO("../examples/openslo/gateway-slos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names, skipped []string
	for _, o := range set.Objectives {
		names = append(names, o.Name)
		if o.NotEvaluated != "" {
			skipped = append(skipped, o.Name)
		}
	}
	if want := []string{"gateway-availability", "gateway-latency", "gateway-monthly-uptime", "gpu-memory-headroom"}; !cmp.Equal(names, want) {
		t.Errorf("objectives %v, want %v", names, want)
	}
	if !cmp.Equal(skipped, []string{"gpu-memory-headroom"}) {
		t.Errorf("not evaluated %v, want the GPU headroom only", skipped)
	}
	if len(set.Ratios) != 2 {
		t.Errorf("%d Prometheus ratio SLIs, want 2", len(set.Ratios))
	}
}

// TestEvaluateOpenSLOSlices: an objective's own time slices are judged
// over the run (run60: 6 slices of 10 s, one of them 60 % good), and an
// objective the drill cannot evaluate says so without being judged.
func TestEvaluateOpenSLOSlices(t *testing.T) {
	a := run60(t)
	for _, c := range []struct {
		name      string
		obj       slo.Objective
		actual    float64
		compliant bool
		detail    string
	}{
		{"Timeslices", slo.Objective{Name: "ts", Kind: slo.KindAvailability, Target: 0.8, TimeBased: true, SliceWindow: 10 * time.Second, SliceTarget: 0.95},
			5.0 / 6, true, "5 of 6 10s slices"},
		{"Timeslices strict", slo.Objective{Name: "ts", Kind: slo.KindAvailability, Target: 0.9, TimeBased: true, SliceWindow: 10 * time.Second, SliceTarget: 0.95},
			5.0 / 6, false, "5 of 6 10s slices"},
		{"RatioTimeslices", slo.Objective{Name: "rts", Kind: slo.KindAvailability, Target: 0.9, TimeBased: true, SliceWindow: 10 * time.Second, SliceMean: true},
			(5 + 0.6) / 6, true, "mean of 6 10s slices'"},
		{"not evaluated", slo.Objective{Name: "gpu", Kind: slo.KindThreshold, Target: 2048, NotEvaluated: "no GPU metric"},
			0, false, "not evaluated: no GPU metric"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, err := slo.Evaluate(a, []slo.Objective{c.obj})
			if err != nil {
				t.Fatal(err)
			}
			r := rs[0]
			if !close(r.Actual, c.actual) || r.Compliant != c.compliant || !strings.Contains(r.Detail, c.detail) {
				t.Errorf("got actual %v compliant %v detail %q, want %v %v %q", r.Actual, r.Compliant, r.Detail, c.actual, c.compliant, c.detail)
			}
			if r.NotEvaluated != (c.obj.NotEvaluated != "") || r.NoData {
				t.Errorf("not evaluated %v, no data %v", r.NotEvaluated, r.NoData)
			}
		})
	}
}
