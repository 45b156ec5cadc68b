package k6run

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/aiuptime/aiuptime/redact"
)

// Summary is k6's end-of-test summary (the --summary-export JSON).
type Summary struct {
	// Metrics by name ("aiuptime_ttft", "http_req_duration{...}" for
	// sub-metrics of thresholds).
	Metrics map[string]Metric `json:"metrics"`
	// Duration is the test run's duration.
	Duration time.Duration `json:"duration"`
	// ExitCode is k6's exit code (0, or ExitThresholdsFailed).
	ExitCode int `json:"exit_code"`
	// Path is where the summary JSON was kept (empty for temporary files).
	Path string `json:"path,omitempty"`
}

// Metric is one metric's summary. Values are keyed by k6's statistic names:
// trends "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)" (milliseconds
// for time trends); counters "count", "rate" (per second); rates "rate"
// (0..1), "passes", "fails"; gauges "value", "min", "max".
type Metric struct {
	Values map[string]float64 `json:"values"`
	// Thresholds maps each threshold's source ("p(95)<2000") to whether it
	// passed.
	Thresholds map[string]bool `json:"thresholds,omitempty"`
}

// ReadSummary reads a --summary-export file.
func ReadSummary(path string) (*Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read k6 summary: %w", err)
	}
	s, err := ParseSummary(b)
	if err != nil {
		return nil, fmt.Errorf("parse k6 summary %s: %w", path, err)
	}
	return s, nil
}

// ParseSummary decodes the --summary-export JSON. In that (legacy) format a
// threshold's value is true when it FAILED, and a rate's value is "value";
// both are normalised here (Thresholds true = passed, rates under "rate").
func ParseSummary(b []byte) (*Summary, error) {
	var raw struct {
		Metrics map[string]map[string]json.RawMessage `json:"metrics"`
		State   struct {
			TestRunDurationMs float64 `json:"testRunDurationMs"`
		} `json:"state"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	if raw.Metrics == nil {
		return nil, fmt.Errorf("no metrics in summary")
	}
	s := &Summary{
		Metrics:  make(map[string]Metric, len(raw.Metrics)),
		Duration: time.Duration(raw.State.TestRunDurationMs * float64(time.Millisecond)),
	}
	for name, fields := range raw.Metrics {
		m := Metric{Values: map[string]float64{}}
		_, isRate := fields["passes"]
		for k, v := range fields {
			if k == "thresholds" {
				var failed map[string]bool
				if err := json.Unmarshal(v, &failed); err != nil {
					return nil, fmt.Errorf("metric %s thresholds: %w", name, err)
				}
				m.Thresholds = make(map[string]bool, len(failed))
				for src, f := range failed {
					m.Thresholds[src] = !f
				}
				continue
			}
			var f float64
			if err := json.Unmarshal(v, &f); err != nil {
				continue // not a number: ignore unknown fields
			}
			if isRate && k == "value" {
				k = "rate"
			}
			m.Values[k] = f
		}
		s.Metrics[name] = m
	}
	return s, nil
}

// Value returns one statistic of a metric.
func (s *Summary) Value(metric, stat string) (float64, bool) {
	m, ok := s.Metrics[metric]
	if !ok {
		return 0, false
	}
	v, ok := m.Values[stat]
	return v, ok
}

// Quantile returns a time trend's statistic ("p(95)", "med", ...) as a
// duration.
func (s *Summary) Quantile(metric, stat string) (time.Duration, bool) {
	v, ok := s.Value(metric, stat)
	if !ok || math.IsNaN(v) {
		return 0, false
	}
	return time.Duration(v * float64(time.Millisecond)), true
}

// TTFTP95 is the p95 of aiuptime_ttft.
func (s *Summary) TTFTP95() (time.Duration, bool) { return s.Quantile(MetricTTFT, "p(95)") }

// E2EP95 is the p95 of aiuptime_e2e.
func (s *Summary) E2EP95() (time.Duration, bool) { return s.Quantile(MetricE2E, "p(95)") }

// HTTPReqDurationP95 is the p95 of http_req_duration.
func (s *Summary) HTTPReqDurationP95() (time.Duration, bool) {
	return s.Quantile(MetricHTTPReqDuration, "p(95)")
}

// Availability is the rate of aiuptime_up: good answers over all requests.
func (s *Summary) Availability() (float64, bool) { return s.Value(MetricUp, "rate") }

// ErrorRate is the rate of http_req_failed.
func (s *Summary) ErrorRate() (float64, bool) { return s.Value(MetricHTTPReqFailed, "rate") }

// Iterations is the number of completed iterations.
func (s *Summary) Iterations() float64 {
	v, _ := s.Value(MetricIterations, "count")
	return v
}

// IterationsPerSecond is the iteration rate over the test run.
func (s *Summary) IterationsPerSecond() float64 {
	v, _ := s.Value(MetricIterations, "rate")
	return v
}

// ThresholdResult is one threshold's verdict.
type ThresholdResult struct {
	Metric string `json:"metric"`
	Source string `json:"source"`
	OK     bool   `json:"ok"`
}

// Thresholds lists every threshold, sorted by metric and source.
func (s *Summary) Thresholds() []ThresholdResult {
	var out []ThresholdResult
	for name, m := range s.Metrics {
		for src, ok := range m.Thresholds {
			out = append(out, ThresholdResult{Metric: name, Source: src, OK: ok})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Metric != out[j].Metric {
			return out[i].Metric < out[j].Metric
		}
		return out[i].Source < out[j].Source
	})
	return out
}

// FailedThresholds lists the thresholds that failed, as "metric: source".
func (s *Summary) FailedThresholds() []string {
	var out []string
	for _, t := range s.Thresholds() {
		if !t.OK {
			out = append(out, t.Metric+": "+t.Source)
		}
	}
	return out
}

// ThresholdsOK reports whether every threshold passed (and k6 agreed).
func (s *Summary) ThresholdsOK() bool {
	return s.ExitCode != ExitThresholdsFailed && len(s.FailedThresholds()) == 0
}

// Check is one statistic compared against a baseline.
type Check struct {
	Metric string `json:"metric"`
	Stat   string `json:"stat"`
	// HigherIsBetter is true for throughput and availability, false for
	// latencies.
	HigherIsBetter bool `json:"higher_is_better"`
}

// DefaultChecks are the statistics the performance comparison looks at.
var DefaultChecks = []Check{
	{MetricTTFT, "p(95)", false},
	{MetricE2E, "p(95)", false},
	{MetricTPOT, "p(95)", false},
	{MetricUp, "rate", true},
	{MetricIterations, "count", true},
}

// Regression is a statistic worse than its baseline beyond the tolerance.
type Regression struct {
	Check
	Baseline float64 `json:"baseline"`
	Current  float64 `json:"current"`
	// Change is (current - baseline) / baseline.
	Change float64 `json:"change"`
}

// String renders the regression for test output.
func (r Regression) String() string {
	return fmt.Sprintf("%s %s: %.4g -> %.4g (%+.1f%%)", r.Metric, r.Stat, r.Baseline, r.Current, 100*r.Change)
}

// Compare returns the checks on which current is worse than baseline by more
// than tolerance (a fraction: 0.5 allows 50 % worse). A statistic missing
// from current but present in baseline is a regression; one missing from the
// baseline is skipped. floor is an absolute slack added to latency baselines
// (milliseconds), so sub-millisecond baselines do not fail on noise.
func Compare(baseline, current *Summary, checks []Check, tolerance, floor float64) []Regression {
	var out []Regression
	for _, c := range checks {
		b, ok := baseline.Value(c.Metric, c.Stat)
		if !ok {
			continue
		}
		v, ok := current.Value(c.Metric, c.Stat)
		if !ok {
			out = append(out, Regression{Check: c, Baseline: b, Current: math.NaN(), Change: math.NaN()})
			continue
		}
		change := 0.0
		if b != 0 {
			change = (v - b) / b
		}
		var worse bool
		if c.HigherIsBetter {
			worse = v < b*(1-tolerance)
		} else {
			worse = v > b*(1+tolerance)+floor
		}
		if worse {
			out = append(out, Regression{Check: c, Baseline: b, Current: v, Change: change})
		}
	}
	return out
}

// redact masks the metric names (a sub-metric's tags may hold a URL) and
// threshold sources with red.
func (s *Summary) redact(red *redact.Redactor) {
	metrics := make(map[string]Metric, len(s.Metrics))
	for name, m := range s.Metrics {
		if len(m.Thresholds) > 0 {
			th := make(map[string]bool, len(m.Thresholds))
			for src, ok := range m.Thresholds {
				th[red.String(src)] = ok
			}
			m.Thresholds = th
		}
		metrics[red.String(name)] = m
	}
	s.Metrics = metrics
}

// Trim returns a copy of s with only the named metrics, for storing as a
// baseline.
func (s *Summary) Trim(names ...string) *Summary {
	out := &Summary{Metrics: map[string]Metric{}, Duration: s.Duration, ExitCode: s.ExitCode}
	for name, m := range s.Metrics {
		if slices.Contains(names, name) {
			out.Metrics[name] = m
		}
	}
	return out
}

// WriteJSON writes s as indented JSON (the baseline format; ReadJSON reads it).
func (s *Summary) WriteJSON(path string) error {
	b, err := marshalIndent(s)
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// ReadJSON reads a summary written by WriteJSON.
func ReadJSON(path string) (*Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read summary: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode summary %s: %w", path, err)
	}
	return &s, nil
}
