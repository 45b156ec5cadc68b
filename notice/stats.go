package notice

import (
	"slices"
	"time"

	"github.com/aiuptime/aiuptime/reports"
)

// DegradedDefinition states in words what Degraded counts, for the notice.
const DegradedDefinition = "the length of the timeline's buckets that had requests, " +
	"overlap no outage, and in which some requests failed or the p95 latency was above the plan's latency objective"

// Downtime is a run's user-visible downtime in seconds: the sum of the
// durations of its outages.
func Downtime(r *reports.Report) float64 {
	var s float64
	for _, o := range r.Outages {
		s += o.DurationSeconds
	}
	return s
}

// Degraded is a run's degraded time in seconds, from its timeline (see
// DegradedDefinition): users were served, but not all of them, or slowly.
// A bucket overlapping an outage is left out, as its time is downtime
// already. bound is the plan's latency_p95 objective; 0 counts failed
// requests only.
func Degraded(r *reports.Report, bound time.Duration) float64 {
	bs := r.Timeline.BucketSeconds
	width := time.Duration(bs * float64(time.Second))
	var n int
	for _, b := range r.Timeline.Buckets {
		if b.Requests == 0 || overlapsOutage(b.T, b.T.Add(width), r.Outages) {
			continue
		}
		if b.Success < 1 || (bound > 0 && b.P95 > bound.Seconds()) {
			n++
		}
	}
	return float64(n) * bs
}

// overlapsOutage reports whether [from, to) overlaps one of outages.
func overlapsOutage(from, to time.Time, outages []reports.Outage) bool {
	for _, o := range outages {
		if from.Before(o.End) && o.Start.Before(to) {
			return true
		}
	}
	return false
}

// median is the middle of xs, the mean of the two middle values for an
// even count; 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// worst is the largest of xs; 0 for none.
func worst(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Max(xs)
}
