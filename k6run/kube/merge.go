package kube

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/k6run"
)

// Part is one runner's end-of-test summary.
type Part struct {
	// Index is the runner's completion index (its execution segment).
	Index int `json:"index"`
	// Pod is the runner's pod name (empty for local runs).
	Pod string `json:"pod,omitempty"`
	// ExitCode is k6's exit code in that pod.
	ExitCode int `json:"exit_code"`
	// Summary is what it exported.
	Summary *k6run.Summary `json:"summary"`
}

// QuantileBounds is what the runners' summaries say about one percentile
// (or the median) of a trend over all runners. It cannot be computed from
// summaries: the exact value needs the samples. It does lie between the
// smallest and the largest of the runners' values (a quantile of a
// mixture is bounded by its parts' quantiles), so Min and Max bound it.
type QuantileBounds struct {
	// PerPod are the runners' values, by index.
	PerPod []float64 `json:"per_pod"`
	// Min and Max bound the quantile over all runners.
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// Merged is the summary of a distributed run.
type Merged struct {
	// Summary holds the merged statistics, keyed as k6 keys them, so that
	// k6run's accessors (Iterations, Availability, TTFTP95, Compare) work
	// on it:
	//   - counters: count summed exactly; rate = summed count / the longest
	//     runner's duration (the runners ran side by side);
	//   - rates: passes and fails summed, rate = passes / (passes + fails),
	//     exact;
	//   - trends: count summed, min of mins, max of maxes, avg weighted by
	//     count: exact (the runners export "count"); med and p(N) CANNOT
	//     be merged from summaries: the value stored is the largest
	//     runner's (an upper bound of the true one, so a latency check
	//     stays on the safe side), and Quantiles gives every runner's
	//     value and the bounds;
	//   - gauges: min of mins, max of maxes, value summed (right for vus
	//     and vus_max, each runner's share; for other gauges read the
	//     parts);
	//   - thresholds: a threshold passed only if it passed on every
	//     runner (each judged its own segment; nothing is re-evaluated).
	Summary *k6run.Summary `json:"summary"`
	// Quantiles are the trends' unmergeable statistics, by metric and stat.
	Quantiles map[string]map[string]QuantileBounds `json:"quantiles,omitempty"`
	// Parts are the runners' own summaries, by index.
	Parts []Part `json:"parts"`
}

// QuantileNotes renders Quantiles for a report, one line per trend and
// statistic, sorted, saying what the merged value is: "aiuptime_ttft
// p(95): per runner [30 80]; merged value 80 is the largest runner's, an
// upper bound; the true value lies in [30, 80]".
func (m *Merged) QuantileNotes() []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(m.Quantiles)) {
		for _, stat := range slices.Sorted(maps.Keys(m.Quantiles[name])) {
			b := m.Quantiles[name][stat]
			out = append(out, fmt.Sprintf("%s %s: per runner %v; merged value %.4g is the largest runner's, an upper bound; the true value lies in [%.4g, %.4g]",
				name, stat, b.PerPod, b.Max, b.Min, b.Max))
		}
	}
	return out
}

// Merge folds the runners' summaries into one (see Merged for what is
// exact). Every part needs a summary; parts are sorted by index.
func Merge(parts []Part) (*Merged, error) {
	if len(parts) == 0 {
		return nil, errors.New("merge k6 summaries: no parts")
	}
	parts = slices.Clone(parts)
	sort.Slice(parts, func(i, j int) bool { return parts[i].Index < parts[j].Index })
	out := &Merged{Summary: &k6run.Summary{Metrics: map[string]k6run.Metric{}}, Parts: parts}
	names := map[string]bool{}
	for _, p := range parts {
		if p.Summary == nil {
			return nil, fmt.Errorf("merge k6 summaries: runner %d (%s) has no summary", p.Index, p.Pod)
		}
		out.Summary.Duration = max(out.Summary.Duration, p.Summary.Duration)
		for name := range p.Summary.Metrics {
			names[name] = true
		}
	}
	out.Summary.ExitCode = mergeExit(parts)
	for _, name := range slices.Sorted(maps.Keys(names)) {
		ms := make([]k6run.Metric, 0, len(parts))
		for _, p := range parts {
			if m, ok := p.Summary.Metrics[name]; ok {
				ms = append(ms, m)
			}
		}
		m, q := mergeMetric(ms, out.Summary.Duration)
		out.Summary.Metrics[name] = m
		if len(q) > 0 {
			if out.Quantiles == nil {
				out.Quantiles = map[string]map[string]QuantileBounds{}
			}
			out.Quantiles[name] = q
		}
	}
	return out, nil
}

// mergeExit is the run's exit code: the first runner's other failure,
// else 99 when thresholds failed on any runner, else 0.
func mergeExit(parts []Part) int {
	code := 0
	for _, p := range parts {
		switch {
		case p.ExitCode == 0:
		case p.ExitCode == k6run.ExitThresholdsFailed:
			if code == 0 {
				code = p.ExitCode
			}
		default:
			if code == 0 || code == k6run.ExitThresholdsFailed {
				code = p.ExitCode
			}
		}
	}
	return code
}

// kind is a metric's type, told from its statistics.
type kind int

const (
	kindCounter kind = iota
	kindRate
	kindTrend
	kindGauge
)

func kindOf(v map[string]float64) kind {
	has := func(k string) bool { _, ok := v[k]; return ok }
	switch {
	case has("passes") || has("fails"):
		return kindRate
	case has("avg") || has("med") || has("p(95)"):
		return kindTrend
	case has("value"):
		return kindGauge
	}
	return kindCounter
}

// mergeMetric merges one metric's summaries over the runners that have it.
func mergeMetric(ms []k6run.Metric, d time.Duration) (k6run.Metric, map[string]QuantileBounds) {
	out := k6run.Metric{Values: map[string]float64{}}
	out.Thresholds = mergeThresholds(ms)
	vals := make([]map[string]float64, len(ms))
	for i, m := range ms {
		vals[i] = m.Values
	}
	switch kindOf(vals[0]) {
	case kindRate:
		p, f := sum(vals, "passes"), sum(vals, "fails")
		out.Values["passes"], out.Values["fails"] = p, f
		if p+f > 0 {
			out.Values["rate"] = p / (p + f)
		}
	case kindGauge:
		out.Values["value"] = sum(vals, "value")
		out.Values["min"], out.Values["max"] = extreme(vals, "min", math.Min), extreme(vals, "max", math.Max)
	case kindTrend:
		return out, mergeTrend(vals, out.Values)
	default:
		c := sum(vals, "count")
		out.Values["count"] = c
		if d > 0 {
			out.Values["rate"] = c / d.Seconds()
		} else {
			out.Values["rate"] = sum(vals, "rate")
		}
	}
	return out, nil
}

// mergeTrend fills out with a trend's mergeable statistics and returns the
// bounds of the others.
func mergeTrend(vals []map[string]float64, out map[string]float64) map[string]QuantileBounds {
	n := sum(vals, "count")
	out["count"] = n
	out["min"], out["max"] = extreme(vals, "min", math.Min), extreme(vals, "max", math.Max)
	if n > 0 {
		var w float64
		for _, v := range vals {
			w += v["avg"] * v["count"]
		}
		out["avg"] = w / n
	} else if _, ok := vals[0]["count"]; !ok && len(vals) == 1 {
		out["avg"] = vals[0]["avg"] // one runner without counts: its own avg
	}
	q := map[string]QuantileBounds{}
	for _, v := range vals {
		for k := range v {
			if k == "med" || strings.HasPrefix(k, "p(") {
				q[k] = QuantileBounds{}
			}
		}
	}
	for k := range q {
		b := QuantileBounds{Min: math.Inf(1), Max: math.Inf(-1)}
		for _, v := range vals {
			x, ok := v[k]
			if !ok {
				x = math.NaN()
			}
			b.PerPod = append(b.PerPod, x)
			if ok && !math.IsNaN(x) {
				b.Min, b.Max = math.Min(b.Min, x), math.Max(b.Max, x)
			}
		}
		q[k] = b
		out[k] = b.Max
	}
	return q
}

func sum(vals []map[string]float64, k string) float64 {
	var s float64
	for _, v := range vals {
		s += v[k]
	}
	return s
}

func extreme(vals []map[string]float64, k string, pick func(a, b float64) float64) float64 {
	out := math.NaN()
	for _, v := range vals {
		x, ok := v[k]
		if !ok {
			continue
		}
		if math.IsNaN(out) {
			out = x
		} else {
			out = pick(out, x)
		}
	}
	return out
}

func mergeThresholds(ms []k6run.Metric) map[string]bool {
	var out map[string]bool
	for _, m := range ms {
		for src, ok := range m.Thresholds {
			if out == nil {
				out = map[string]bool{}
			}
			prev, seen := out[src]
			out[src] = ok && (!seen || prev)
		}
	}
	return out
}

// ParseLog finds the end-of-test summary a runner printed on stdout
// (--summary-export /dev/stdout) in its pod log, which also holds k6's
// text summary and any log lines: the last JSON object with a "metrics"
// key that starts at the beginning of a line.
func ParseLog(log []byte) (*k6run.Summary, error) {
	var found []byte
	for off := 0; off < len(log); {
		i := bytes.IndexByte(log[off:], '{')
		if i < 0 {
			break
		}
		start := off + i
		off = start + 1
		if start > 0 && log[start-1] != '\n' {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(log[start:]))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			continue
		}
		var probe struct {
			Metrics json.RawMessage `json:"metrics"`
		}
		if json.Unmarshal(raw, &probe) == nil && len(probe.Metrics) > 0 {
			found = raw
			off = start + int(dec.InputOffset())
		}
	}
	if found == nil {
		return nil, errors.New("no k6 summary JSON in the log")
	}
	s, err := k6run.ParseSummary(found)
	if err != nil {
		return nil, fmt.Errorf("parse k6 summary from the log: %w", err)
	}
	return s, nil
}
