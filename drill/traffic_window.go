package drill

import (
	"slices"
	"sync"
	"time"

	"github.com/aiuptime/aiuptime/reports"
)

// WindowStats summarises the probe's results sent in a window, for a
// comparison of two windows of the same run (validate): latency and TTFT
// of the successful requests only (a failed request's latency is its
// timeout or its error's, not the service's speed).
type WindowStats struct {
	From, To     time.Time
	Total, Good  int
	Failed       int
	ErrorRate    float64 // Failed/Total (0 when empty)
	Throughput   float64 // Good per second of the window
	P50, P95     time.Duration
	TTFTCount    int // successful streamed requests
	TTFTP95      time.Duration
	LatencyCount int // successful requests with a latency
}

// Window summarises every result sent in [from, to).
func (t *TrafficLog) Window(from, to time.Time) WindowStats {
	t.mu.Lock()
	lo, hi := from.UnixNano(), to.UnixNano()
	st := WindowStats{From: from, To: to}
	var lat, ttft []time.Duration
	for _, r := range t.recs {
		if r.start < lo || r.start >= hi {
			continue
		}
		st.Total++
		if !r.good {
			st.Failed++
			continue
		}
		st.Good++
		lat = append(lat, r.latency)
		if r.ttft > 0 {
			ttft = append(ttft, r.ttft)
		}
	}
	t.mu.Unlock()
	if st.Total > 0 {
		st.ErrorRate = float64(st.Failed) / float64(st.Total)
	}
	if secs := to.Sub(from).Seconds(); secs > 0 {
		st.Throughput = float64(st.Good) / secs
	}
	st.LatencyCount, st.TTFTCount = len(lat), len(ttft)
	if len(lat) > 0 {
		slices.Sort(lat)
		st.P50, st.P95 = nearestRank(lat, 0.50), nearestRank(lat, 0.95)
	}
	if len(ttft) > 0 {
		slices.Sort(ttft)
		st.TTFTP95 = nearestRank(ttft, 0.95)
	}
	return st
}

// sharedWindowPrefix keys a finished step's time window in the run's
// shared values.
const sharedWindowPrefix = "window."

// stepWindow is when a step ran.
type stepWindow struct{ start, end time.Time }

// storeStepWindow keeps the window of a step that ran (a skipped one has
// none), so a later action can measure the traffic of an earlier step.
func storeStepWindow(shared *sync.Map, rec stepRecord) {
	if rec.status == reports.StatusSkipped || rec.end.IsZero() {
		return
	}
	shared.Store(sharedWindowPrefix+rec.step.Name, stepWindow{rec.start, rec.end})
}

// StepWindow returns when an earlier step of this run started and
// finished (ok false: it did not run, or has not finished).
func StepWindow(env *ActionEnv, step string) (start, end time.Time, ok bool) {
	if env == nil || env.Shared == nil {
		return time.Time{}, time.Time{}, false
	}
	v, ok := env.Shared.Load(sharedWindowPrefix + step)
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	w := v.(stepWindow)
	return w.start, w.end, true
}
