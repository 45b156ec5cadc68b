package uptime

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

// windowBuckets is the number of sub-buckets a Window's width is cut into.
const windowBuckets = 50

// maxBucketSamples bounds the latencies kept per sub-bucket for live
// quantiles (the counts stay exact beyond it).
const maxBucketSamples = 4096

// Window is a live, goroutine-safe sliding window over the most recent
// results, by completion time, for stop conditions, live progress and
// "await recovered". It also tracks the live outage state with the same
// thresholds and rules as the Analyzer, in arrival order (the Analyzer's
// order but for failures arriving late, which the rules place by their
// send time).
type Window struct {
	mu      sync.Mutex
	width   time.Duration
	res     int64 // sub-bucket width, ns
	buckets []wbucket
	o       options

	streak     int
	streakGood bool
	det        detector
	last       time.Time
	total      int64
}

type wbucket struct {
	idx         int64
	total, good int
	lats        []time.Duration
}

// NewWindow returns a Window of the given width; WithFailoverThreshold and
// WithRecoveryThreshold apply.
func NewWindow(width time.Duration, opts ...Option) (*Window, error) {
	if width < time.Millisecond {
		return nil, fmt.Errorf("window width %v must be at least 1ms", width)
	}
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	res := max(int64(width)/windowBuckets, int64(time.Millisecond))
	n := int((int64(width)+res-1)/res) + 1
	w := &Window{width: width, res: res, buckets: make([]wbucket, n), o: o,
		det: detector{failover: o.failover, recovery: o.recovery}}
	for i := range w.buckets {
		w.buckets[i].idx = -1
	}
	return w, nil
}

// Width returns the window's width.
func (w *Window) Width() time.Duration { return w.width }

// Add records one result at its completion time.
func (w *Window) Add(r probe.Result) {
	end := r.End()
	good := r.Outcome.Good()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.total++
	if end.After(w.last) {
		w.last = end
	}
	idx := end.UnixNano() / w.res
	b := &w.buckets[int(idx%int64(len(w.buckets)))]
	if b.idx != idx {
		if b.idx > idx { // older than the ring holds
			goto state
		}
		b.idx, b.total, b.good, b.lats = idx, 0, 0, b.lats[:0]
	}
	b.total++
	if good {
		b.good++
	}
	if len(b.lats) < maxBucketSamples {
		b.lats = append(b.lats, r.Latency)
	}
state:
	if good == w.streakGood {
		w.streak++
	} else {
		w.streak, w.streakGood = 1, good
	}
	w.det.step(resultAnswer(r))
}

// WindowStats is a snapshot of a Window.
type WindowStats struct {
	// From and To bound the window (To is the "now" asked for).
	From, To time.Time
	Total    int
	Good     int
	Failed   int
	// Availability is Good/Total, 1 when the window is empty (check Total).
	Availability float64
	ErrorRate    float64
	P50, P95     time.Duration
	P99, Max     time.Duration
	// InOutage is the live outage state (the Analyzer's failover and
	// recovery rules on arrival order); OutageSince the send time of the
	// outage's first failed request.
	InOutage    bool
	OutageSince time.Time
	// Streak is the number of consecutive results with the same outcome
	// class as the last one (StreakGood).
	Streak     int
	StreakGood bool
	// Recovered is true when not in an outage and the last Recovery
	// results were all good.
	Recovered bool
	// LastResult is the latest completion time seen; TotalSeen counts all
	// results ever added.
	LastResult time.Time
	TotalSeen  int64
}

// Stats returns the window ending at now.
func (w *Window) Stats(now time.Time) WindowStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := WindowStats{From: now.Add(-w.width), To: now, Availability: 1,
		InOutage: w.det.down, Streak: w.streak, StreakGood: w.streakGood,
		LastResult: w.last, TotalSeen: w.total}
	if w.det.down {
		s.OutageSince = w.det.cur.Start
	}
	s.Recovered = !w.det.down && w.streakGood && w.streak >= w.o.recovery
	hi := now.UnixNano() / w.res
	lo := hi - int64(len(w.buckets)) + 2 // len-1 sub-buckets cover width
	var lats []time.Duration
	for i := range w.buckets {
		b := &w.buckets[i]
		if b.idx < lo || b.idx > hi {
			continue
		}
		s.Total += b.total
		s.Good += b.good
		lats = append(lats, b.lats...)
	}
	s.Failed = s.Total - s.Good
	if s.Total > 0 {
		s.Availability = float64(s.Good) / float64(s.Total)
		s.ErrorRate = float64(s.Failed) / float64(s.Total)
	}
	if len(lats) > 0 {
		slices.Sort(lats)
		s.P50 = lats[nearestRank(len(lats), 0.50)]
		s.P95 = lats[nearestRank(len(lats), 0.95)]
		s.P99 = lats[nearestRank(len(lats), 0.99)]
		s.Max = lats[len(lats)-1]
	}
	return s
}

// Availability returns the window's availability at now and the number of
// requests it is based on.
func (w *Window) Availability(now time.Time) (float64, int) {
	s := w.Stats(now)
	return s.Availability, s.Total
}

// P95 returns the window's 95th percentile latency at now.
func (w *Window) P95(now time.Time) time.Duration { return w.Stats(now).P95 }
