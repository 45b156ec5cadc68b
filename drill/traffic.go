package drill

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

// DefaultTrafficCap bounds the results a TrafficLog keeps (oldest dropped).
const DefaultTrafficCap = 200_000

// TrafficLog keeps the most recent probe results compactly, for analyses
// over intervals by backend (canary analysis, a step's failed requests).
// It is safe for concurrent use.
type TrafficLog struct {
	mu       sync.Mutex
	cap      int
	recs     []trafficRec // ring
	next     int
	full     bool
	backends []string
	index    map[string]uint16
}

type trafficRec struct {
	start   int64 // unix nanos of the intended send time
	latency time.Duration
	ttft    time.Duration // streamed requests only (0 otherwise)
	backend uint16
	good    bool
}

// NewTrafficLog returns a log keeping at most capacity results.
func NewTrafficLog(capacity int) *TrafficLog {
	if capacity <= 0 {
		capacity = DefaultTrafficCap
	}
	return &TrafficLog{cap: capacity, index: map[string]uint16{"": 0}, backends: []string{""}}
}

// Add records one result.
func (t *TrafficLog) Add(r probe.Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.index[r.Backend]
	if !ok && len(t.backends) < 1<<16 {
		b = uint16(len(t.backends))
		t.backends = append(t.backends, r.Backend)
		t.index[r.Backend] = b
	}
	rec := trafficRec{start: r.Start.UnixNano(), latency: r.Latency, ttft: r.TTFT, backend: b, good: r.Outcome.Good()}
	if len(t.recs) < t.cap {
		t.recs = append(t.recs, rec)
		return
	}
	t.recs[t.next] = rec
	t.next = (t.next + 1) % t.cap
	t.full = true
}

// TrafficStats summarises the results sent in an interval.
type TrafficStats struct {
	Total, Failed int
	// ErrorRate is Failed/Total (0 when empty).
	ErrorRate float64
	P50, P95  time.Duration
}

// Stats summarises results sent in [from, to). An empty backend means all
// backends; otherwise only results answered by that backend (failed
// requests without a backend are counted for every backend filter only when
// includeUnattributed is set).
func (t *TrafficLog) Stats(from, to time.Time, backend string, includeUnattributed bool) TrafficStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	want, known := t.index[backend]
	if backend != "" && !known && !includeUnattributed {
		return TrafficStats{}
	}
	lo, hi := from.UnixNano(), to.UnixNano()
	var st TrafficStats
	lat := make([]time.Duration, 0, 256)
	for _, r := range t.recs {
		if r.start < lo || r.start >= hi {
			continue
		}
		if backend != "" {
			match := known && r.backend == want
			if !match && !(includeUnattributed && r.backend == 0) {
				continue
			}
		}
		st.Total++
		if !r.good {
			st.Failed++
		}
		lat = append(lat, r.latency)
	}
	if st.Total > 0 {
		st.ErrorRate = float64(st.Failed) / float64(st.Total)
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		st.P50, st.P95 = nearestRank(lat, 0.50), nearestRank(lat, 0.95)
	}
	return st
}

// Backends lists the backends seen so far.
func (t *TrafficLog) Backends() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.backends[1:]...)
}

// nearestRank is the q-quantile of sorted samples by the nearest-rank
// method (the smallest sample with at least q of the samples at or below it).
func nearestRank(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
