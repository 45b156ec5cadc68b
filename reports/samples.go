package reports

import "math"

// Samples are bounded uniform samples of a run's per-request measurements,
// kept so that two runs can be compared with a rank test rather than by
// their summaries alone (drill report --compare). They are additive to
// schema version 2: a report without them compares by its summaries and
// says so.
type Samples struct {
	// Capacity is the most values one set keeps.
	Capacity int `json:"capacity"`
	// Method says how the values were chosen.
	Method string `json:"method"`
	// Latency is over every request, as latency_seconds is.
	Latency SampleSet `json:"latency_seconds"`
	// TTFT is over successful streams, as ttft_seconds is.
	TTFT SampleSet `json:"ttft_seconds"`
}

// SampleMethod is Samples.Method of the runner's reservoirs.
const SampleMethod = "uniform reservoir sample (Vitter's algorithm R, seeded) of the run's values"

// SampleSet is one sample: Values (seconds, to the microsecond) were
// drawn uniformly from Seen values.
type SampleSet struct {
	Seen   int64     `json:"seen"`
	Values []float64 `json:"values"`
}

// NewSampleSet returns a set of values drawn from seen, rounded to the
// microsecond (the analysis's resolution) to keep report.json small.
func NewSampleSet(seen int64, values []float64) SampleSet {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = math.Round(v*1e6) / 1e6
	}
	return SampleSet{Seen: seen, Values: out}
}
