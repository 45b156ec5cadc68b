package reports

import (
	"math"
	"time"
)

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
	// At is when each value's request was sent, in seconds after the
	// run's started_at (to the ms), in the order of Values. A comparison
	// resamples requests in blocks of time with it (CompareBlock); a
	// report without it is resampled request by request.
	At []float64 `json:"at_seconds,omitempty"`
}

// NewSampleSet returns a set of values drawn from seen, rounded to the
// microsecond (the analysis's resolution) to keep report.json small; at,
// if given, are the requests' send times in unix seconds, kept as
// offsets from origin.
func NewSampleSet(seen int64, values, at []float64, origin time.Time) SampleSet {
	out := make([]float64, len(values))
	for i, v := range values {
		out[i] = math.Round(v*1e6) / 1e6
	}
	s := SampleSet{Seen: seen, Values: out}
	if len(at) == len(values) && len(at) > 0 {
		o := float64(origin.UnixNano()) / 1e9
		s.At = make([]float64, len(at))
		for i, t := range at {
			s.At[i] = math.Round((t-o)*1e3) / 1e3
		}
	}
	return s
}

// blocks are the values' blocks of width w seconds by At (nil without
// times).
func (s SampleSet) blocks(w float64) []int {
	if len(s.At) != len(s.Values) || len(s.At) == 0 {
		return nil
	}
	b := make([]int, len(s.At))
	for i, t := range s.At {
		b[i] = int(math.Floor(t / w))
	}
	return b
}
