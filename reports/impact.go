package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// impact is what users felt while one fault or action was in effect, read
// from the report's own timeline: from the step's start to the next fault
// or action (or the end of the run), at the timeline's bucket resolution.
type impact struct {
	step     Step
	from, to time.Time
	// requests and failed count the probe requests of the buckets that
	// start inside the window.
	requests, failed int64
	// peakP95 is the highest bucket p95 in the window (seconds).
	peakP95 float64
	// slowSeconds is the longest stretch of consecutive buckets whose p95
	// was above the run's felt threshold (impactOf's slow).
	slowSeconds float64
	// aboveSLOSeconds is the same above the latency SLO's target (0 without one).
	aboveSLOSeconds float64
	// outages are the user-visible outages the step caused.
	outages []Outage
}

// isDisruption reports whether a step disturbs the stack: a fault, an
// action (backup, restore, rollout) or a revert.
func isDisruption(s Step) bool {
	return strings.HasPrefix(s.Kind, "fault") || strings.HasPrefix(s.Kind, "action") || s.Kind == "revert"
}

// faultName is a step's kind without its family and its target:
// "gpu-kill on model-0", "restore".
func faultName(s Step) string {
	_, kind, ok := strings.Cut(s.Kind, ":")
	if !ok {
		kind = s.Kind
	}
	if s.Target != "" {
		return kind + " on " + s.Target
	}
	return kind
}

// stepLabel names a disrupting step for sentences: its name, and what it
// did when the name does not say it ("kill GPU process of model-0"
// (gpu-kill on model-0)).
func stepLabel(s Step) string {
	if f := faultName(s); f != s.Name && s.Kind != "revert" {
		return fmt.Sprintf("%q (%s)", s.Name, f)
	}
	return strconv.Quote(s.Name)
}

// typicalP95 is the median bucket p95 of the run (0 without buckets): what
// a request usually waited, robust to the minority of buckets a fault hurt.
func typicalP95(tl Timeline) float64 {
	var ps []float64
	for _, b := range tl.Buckets {
		if b.Requests > 0 {
			ps = append(ps, b.P95)
		}
	}
	if len(ps) == 0 {
		return 0
	}
	slices.Sort(ps)
	return ps[len(ps)/2]
}

// slowThreshold is the p95 above which a bucket counts as slowed for the
// summary: twice the typical p95, and at least 100 ms above it.
func slowThreshold(typical float64) float64 { return math.Max(2*typical, typical+0.1) }

// latencyTarget is the target of the report's latency_p95 objective, 0
// without one.
func latencyTarget(r *Report) float64 {
	for _, s := range r.SLO {
		if s.Name == "latency_p95" {
			return s.Target
		}
	}
	return 0
}

// impacts measures every disrupting step that ran, in order.
func impacts(r *Report) []impact {
	var steps []Step
	for _, s := range r.Steps {
		if isDisruption(s) && s.Status != StatusSkipped && !s.StartedAt.IsZero() {
			steps = append(steps, s)
		}
	}
	slow, target := slowThreshold(typicalP95(r.Timeline)), latencyTarget(r)
	out := make([]impact, len(steps))
	for i, s := range steps {
		to := r.FinishedAt
		if i+1 < len(steps) {
			to = steps[i+1].StartedAt
		}
		out[i] = impactOf(r, s, s.StartedAt, to, slow, target)
	}
	return out
}

// impactOf measures one window [from, to) of the timeline.
func impactOf(r *Report, s Step, from, to time.Time, slow, target float64) impact {
	im := impact{step: s, from: from, to: to}
	width := r.Timeline.BucketSeconds
	var run, runSLO float64
	for _, b := range r.Timeline.Buckets {
		if b.T.Before(from) || !b.T.Before(to) {
			continue
		}
		im.requests += b.Requests
		im.failed += int64(math.Round(float64(b.Requests) * (1 - clamp01(b.Success))))
		if b.Requests == 0 {
			run, runSLO = 0, 0
			continue
		}
		im.peakP95 = math.Max(im.peakP95, b.P95)
		run, runSLO = extend(run, b.P95 > slow, width), extend(runSLO, target > 0 && b.P95 > target, width)
		im.slowSeconds, im.aboveSLOSeconds = math.Max(im.slowSeconds, run), math.Max(im.aboveSLOSeconds, runSLO)
	}
	for _, o := range r.Outages {
		if o.Cause == s.Name {
			im.outages = append(im.outages, o)
		}
	}
	return im
}

// extend grows a stretch by one bucket while cond holds, else ends it.
func extend(run float64, cond bool, width float64) float64 {
	if cond {
		return run + width
	}
	return 0
}

// ranked returns up to n impacts with a positive key, largest first
// (ties in time order).
func ranked(ims []impact, key func(impact) float64, n int) []impact {
	var out []impact
	for _, im := range ims {
		if key(im) > 0 {
			out = append(out, im)
		}
	}
	slices.SortStableFunc(out, func(a, b impact) int { return cmp.Compare(key(b), key(a)) })
	return out[:min(n, len(out))]
}
