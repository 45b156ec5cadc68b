package uptime

import (
	"iter"
	"math"
	"slices"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/aiuptime/aiuptime/probe"
)

// Analysis is what a run measured. Ratios are 0..1 fractions.
type Analysis struct {
	// Start is the earliest intended send time, End the latest completion.
	Start time.Time     `json:"start"`
	End   time.Time     `json:"end"`
	Span  time.Duration `json:"span"`

	// Total counts every request; Failed = Total - Good, whatever the
	// outcome (error, timeout, truncated, stalled).
	Total  int64 `json:"total"`
	Good   int64 `json:"good"`
	Failed int64 `json:"failed"`
	// ByOutcome counts requests per outcome name (ok, error, ...).
	ByOutcome map[string]int64 `json:"by_outcome"`
	// ByCode counts requests per HTTP status (0: no response).
	ByCode map[int]int64 `json:"by_code"`
	// ByBackend counts requests per answering deployment.
	ByBackend map[string]int64 `json:"by_backend"`

	Availability Availability `json:"availability"`

	// Outages in start order; the last may be Ongoing.
	Outages       []Outage      `json:"outages"`
	Downtime      time.Duration `json:"downtime"`
	LongestOutage time.Duration `json:"longest_outage"`
	// MTTR is the mean outage duration, MTBF the mean up time between
	// outages ((Span - Downtime) / outages); both 0 without outages.
	MTTR time.Duration `json:"mttr"`
	MTBF time.Duration `json:"mtbf"`
	// Recoveries gives, per fault-injected or action-started event, the time
	// until the outage it caused ended: the first outage running at the
	// event or starting before the next fault or action.
	Recoveries []Recovery `json:"recoveries"`

	// Latency is over every request (failures at their time to fail); E2E,
	// TTFT, ITL and TPOT are over successful requests only, with the failed
	// and incomplete counts beside them.
	Latency Dist `json:"latency"`
	E2E     Dist `json:"e2e"`
	TTFT    Dist `json:"ttft"`
	ITL     Dist `json:"itl"`
	TPOT    Dist `json:"tpot"`

	// Throughput is requests per second over Span, GoodThroughput good
	// requests per second.
	Throughput     float64 `json:"throughput"`
	GoodThroughput float64 `json:"good_throughput"`
	Goodput        Goodput `json:"goodput"`

	Events         []Event       `json:"events"`
	Thresholds     Thresholds    `json:"thresholds"`
	SliceWidth     time.Duration `json:"slice_width"`
	RecordsKept    int64         `json:"records_kept"`
	RecordsDropped int64         `json:"records_dropped"`

	lat, e2e, ttft, itl, tpot *hdr.Histogram
	slices                    []slice
	recs                      *records
	backends                  []string
	base                      int64

	prefixOnce            sync.Once
	recGood               []uint32
	sliceTotal, sliceGood []int64
}

// Availability is the request-based and time-based availability.
type Availability struct {
	// RequestBased is good requests / all requests.
	RequestBased float64 `json:"request_based"`
	// TimeBased is good slices / slices with requests; a slice is good when
	// at least SliceTarget of its requests succeeded.
	TimeBased   float64 `json:"time_based"`
	Slices      int     `json:"slices"`
	GoodSlices  int     `json:"good_slices"`
	SliceTarget float64 `json:"slice_target"`
	// Uptime is 1 - Downtime/Span, the uptime monitor's view.
	Uptime float64 `json:"uptime"`
}

// Thresholds are the outage detection thresholds used.
type Thresholds struct {
	Failover int `json:"failover"`
	Recovery int `json:"recovery"`
}

// Outage is a run of failures: at least Failover consecutive failed
// requests, ended by Recovery consecutive good ones.
type Outage struct {
	// Start is when the first failed request was sent (Result.Observed),
	// or, if later, when the last good request before it got its answer:
	// the service was seen working until then. Never after the first
	// failure's end.
	Start time.Time `json:"start"`
	// End is when the first good request of the run that recovered was
	// sent (or the analysis end while Ongoing).
	End      time.Time     `json:"end"`
	Duration time.Duration `json:"duration"`
	// DetectedAt is when the Failover-th failure was known (its end);
	// RecoveredAt when the Recovery-th success was known.
	DetectedAt  time.Time `json:"detected_at"`
	RecoveredAt time.Time `json:"recovered_at,omitzero"`
	// FirstTokenAt is when the first good request's first token arrived
	// (streams only).
	FirstTokenAt time.Time `json:"first_token_at,omitzero"`
	// Requests and Failed count the requests of the outage.
	Requests int64 `json:"requests"`
	Failed   int64 `json:"failed"`
	Ongoing  bool  `json:"ongoing,omitempty"`
	// Cause is the step (or kind and target) of the fault or action in
	// force when the outage began, if any.
	Cause string `json:"cause,omitempty"`
	// Phases split the time to repair, from probe data and phase events.
	Phases []Phase `json:"phases,omitempty"`
}

// Phase names.
const (
	PhaseDetected   = "detected"
	PhaseFailedOver = "failed-over"
	PhaseEngineUp   = "engine-ready"
	PhaseFirstGood  = "first-good"
	PhaseFirstToken = "first-token"
	PhaseConfirmed  = "recovery-confirmed"
	PhaseSLONormal  = "slo-normal"
)

// Phase is a point in an outage's repair, relative to its start.
type Phase struct {
	Name  string        `json:"name"`
	At    time.Time     `json:"at"`
	Since time.Duration `json:"since"`
	// Source is "probe" or "event".
	Source string `json:"source"`
}

// Recovery is the time from an event (a fault or action) to the end of the
// outage it caused.
type Recovery struct {
	Event Event `json:"event"`
	// Outage indexes Analysis.Outages, or -1 when the event caused none.
	Outage int `json:"outage"`
	// Time is from the event to the outage's end; 0 when none.
	Time time.Duration `json:"time"`
}

// Goodput is the count and rate of requests that met every criterion.
type Goodput struct {
	Criteria Criteria `json:"criteria"`
	Good     int64    `json:"good"`
	// Attainment is Good / Total: errors and incomplete requests count
	// against it.
	Attainment float64 `json:"attainment"`
	PerSecond  float64 `json:"per_second"`
}

// Dist summarises one latency distribution (HDR, 0.1 % precision).
type Dist struct {
	Count      int64         `json:"count"`
	Failed     int64         `json:"failed"`
	Incomplete int64         `json:"incomplete"`
	Min        time.Duration `json:"min"`
	Mean       time.Duration `json:"mean"`
	P50        time.Duration `json:"p50"`
	P90        time.Duration `json:"p90"`
	P95        time.Duration `json:"p95"`
	P99        time.Duration `json:"p99"`
	P999       time.Duration `json:"p999"`
	Max        time.Duration `json:"max"`
}

func us(v int64) time.Duration { return time.Duration(v) * time.Microsecond }

func dist(h *hdr.Histogram, failed, incomplete int64) Dist {
	d := Dist{Count: h.TotalCount(), Failed: failed, Incomplete: incomplete}
	if d.Count == 0 {
		return d
	}
	d.Min, d.Max = us(h.Min()), us(h.Max())
	d.Mean = time.Duration(h.Mean() * float64(time.Microsecond))
	d.P50, d.P90 = us(h.ValueAtQuantile(50)), us(h.ValueAtQuantile(90))
	d.P95, d.P99 = us(h.ValueAtQuantile(95)), us(h.ValueAtQuantile(99))
	d.P999 = us(h.ValueAtQuantile(99.9))
	return d
}

// Metric names a distribution of the Analysis.
type Metric string

// Metrics.
const (
	MetricLatency Metric = "latency"
	MetricE2E     Metric = "e2e"
	MetricTTFT    Metric = "ttft"
	MetricITL     Metric = "itl"
	MetricTPOT    Metric = "tpot"
)

func (a *Analysis) hist(m Metric) *hdr.Histogram {
	switch m {
	case MetricLatency:
		return a.lat
	case MetricE2E:
		return a.e2e
	case MetricTTFT:
		return a.ttft
	case MetricITL:
		return a.itl
	case MetricTPOT:
		return a.tpot
	}
	return nil
}

// Quantile returns the q-quantile (0..1) of metric m, 0 without samples.
func (a *Analysis) Quantile(m Metric, q float64) time.Duration {
	h := a.hist(m)
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	return us(h.ValueAtQuantile(q * 100))
}

// Count returns the number of samples of metric m.
func (a *Analysis) Count(m Metric) int64 {
	h := a.hist(m)
	if h == nil {
		return 0
	}
	return h.TotalCount()
}

// FractionAbove returns the fraction of metric m's samples above d (within
// HDR precision), 0 without samples.
func (a *Analysis) FractionAbove(m Metric, d time.Duration) float64 {
	h := a.hist(m)
	if h == nil || h.TotalCount() == 0 {
		return 0
	}
	limit := int64(d / time.Microsecond)
	var above int64
	for _, b := range h.Distribution() {
		if b.Count > 0 && b.From > limit {
			above += b.Count
		}
	}
	return float64(above) / float64(h.TotalCount())
}

// Counts returns the requests sent in [from, to) and how many were good.
// It is exact while every record was kept, else at slice resolution (a
// slice counts when its start lies in the range). It is O(log n) after a
// one-off prefix-sum pass, so burn-rate windows can slide cheaply.
func (a *Analysis) Counts(from, to time.Time) (total, good int64) {
	f, t := from.UnixNano(), to.UnixNano()
	if t <= f {
		return 0, 0
	}
	a.prefixOnce.Do(a.buildPrefix)
	if a.RecordsDropped == 0 && a.recs != nil && a.recs.n > 0 {
		i, j := a.recs.search(f), a.recs.search(t)
		return int64(j - i), int64(a.recGood[j] - a.recGood[i])
	}
	w := int64(a.SliceWidth)
	if w <= 0 || len(a.slices) == 0 {
		return 0, 0
	}
	// Slices whose start ss satisfies f <= ss < t.
	i := int(min(max(ceilDiv(f-a.base, w), 0), int64(len(a.slices))))
	j := int(min(max(ceilDiv(t-a.base, w), 0), int64(len(a.slices))))
	if j <= i {
		return 0, 0
	}
	return a.sliceTotal[j] - a.sliceTotal[i], a.sliceGood[j] - a.sliceGood[i]
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// buildPrefix computes the cumulative good counts of records and slices.
func (a *Analysis) buildPrefix() {
	if a.RecordsDropped == 0 && a.recs != nil && a.recs.n > 0 {
		a.recGood = make([]uint32, a.recs.n+1)
		for i := 0; i < a.recs.n; i++ {
			a.recGood[i+1] = a.recGood[i]
			if a.recs.at(i).out.Good() {
				a.recGood[i+1]++
			}
		}
		return
	}
	a.sliceTotal = make([]int64, len(a.slices)+1)
	a.sliceGood = make([]int64, len(a.slices)+1)
	for i, s := range a.slices {
		a.sliceTotal[i+1] = a.sliceTotal[i] + int64(s.total)
		a.sliceGood[i+1] = a.sliceGood[i] + int64(s.good)
	}
}

// Record is one request as kept in the compact store.
type Record struct {
	Start   time.Time     `json:"start"`
	Latency time.Duration `json:"latency"`
	TTFT    time.Duration `json:"ttft,omitempty"`
	Code    int           `json:"code"`
	Outcome probe.Outcome `json:"outcome"`
	Backend string        `json:"backend,omitempty"`
}

// Records yields the kept records in start order (the first RecordsKept
// requests).
func (a *Analysis) Records() iter.Seq[Record] {
	return func(yield func(Record) bool) {
		if a.recs == nil {
			return
		}
		for i := 0; i < a.recs.n; i++ {
			c := a.recs.at(i)
			r := Record{
				Start:   time.Unix(0, a.recs.base+c.off),
				Latency: us(int64(c.lat)),
				TTFT:    us(int64(c.ttft)),
				Code:    int(c.code),
				Outcome: c.out,
			}
			switch {
			case c.be == 255:
				r.Backend = "other"
			case c.be > 0 && int(c.be) <= len(a.backends):
				r.Backend = a.backends[c.be-1]
			}
			if !yield(r) {
				return
			}
		}
	}
}

// Bucket is one timeline bucket.
type Bucket struct {
	Start       time.Time     `json:"start"`
	Total       int64         `json:"total"`
	Good        int64         `json:"good"`
	SuccessRate float64       `json:"success_rate"`
	LatencyMean time.Duration `json:"latency_mean"`
	LatencyP95  time.Duration `json:"latency_p95"`
	LatencyMax  time.Duration `json:"latency_max"`
}

// Buckets renders the timeline in buckets of the given width (requests by
// intended start). From the records while all were kept, otherwise from the
// slices (width rounded up to whole slices; LatencyP95 then is 0). Empty
// buckets are included, with SuccessRate 0 and Total 0.
func (a *Analysis) Buckets(width time.Duration) []Bucket {
	if width <= 0 || a.Total == 0 || a.Start.IsZero() {
		return nil
	}
	if a.RecordsDropped == 0 && a.recs != nil && a.recs.n > 0 {
		return a.bucketsFromRecords(width)
	}
	return a.bucketsFromSlices(width)
}

func (a *Analysis) bucketsFromRecords(width time.Duration) []Bucket {
	w := int64(width)
	first := a.Start.UnixNano()
	first -= ((first % w) + w) % w
	last := a.recs.base + a.recs.at(a.recs.n-1).off
	n := int((last-first)/w) + 1
	out := make([]Bucket, n)
	lats := make([][]uint32, n)
	for i := 0; i < a.recs.n; i++ {
		c := a.recs.at(i)
		b := int((a.recs.base + c.off - first) / w)
		if b < 0 || b >= n {
			continue
		}
		out[b].Total++
		if c.out.Good() {
			out[b].Good++
		}
		lats[b] = append(lats[b], c.lat)
	}
	for i := range out {
		out[i].Start = time.Unix(0, first+int64(i)*w)
		if out[i].Total == 0 {
			continue
		}
		out[i].SuccessRate = float64(out[i].Good) / float64(out[i].Total)
		l := lats[i]
		slices.Sort(l)
		var sum uint64
		for _, v := range l {
			sum += uint64(v)
		}
		out[i].LatencyMean = us(int64(sum / uint64(len(l))))
		out[i].LatencyMax = us(int64(l[len(l)-1]))
		out[i].LatencyP95 = us(int64(l[nearestRank(len(l), 0.95)]))
	}
	return out
}

// nearestRank is the index of the q-quantile in a sorted slice of n.
func nearestRank(n int, q float64) int {
	i := int(math.Ceil(q*float64(n))) - 1
	return min(max(i, 0), n-1)
}

func (a *Analysis) bucketsFromSlices(width time.Duration) []Bucket {
	per := int((width + a.SliceWidth - 1) / a.SliceWidth)
	per = max(per, 1)
	var out []Bucket
	for i := 0; i < len(a.slices); i += per {
		b := Bucket{Start: time.Unix(0, a.base+int64(i)*int64(a.SliceWidth))}
		var sum uint64
		var mx uint32
		for _, s := range a.slices[i:min(i+per, len(a.slices))] {
			b.Total += int64(s.total)
			b.Good += int64(s.good)
			sum += s.latSum
			mx = max(mx, s.latMax)
		}
		if b.Total > 0 {
			b.SuccessRate = float64(b.Good) / float64(b.Total)
			b.LatencyMean = us(int64(sum / uint64(b.Total)))
			b.LatencyMax = us(int64(mx))
		}
		out = append(out, b)
	}
	return out
}

// causeKinds are the events that can cause an outage.
func causes(k EventKind) bool { return k == FaultInjected || k == ActionStarted }

func eventLabel(e Event) string {
	if e.Step != "" {
		return e.Step
	}
	s := string(e.Kind)
	if e.Target != "" {
		s += " " + e.Target
	}
	return s
}

// phaseKinds maps phase events to phase names.
var phaseKinds = map[EventKind]string{
	Detected:   PhaseDetected,
	FailedOver: PhaseFailedOver,
	EngineUp:   PhaseEngineUp,
	FirstToken: PhaseFirstToken,
	SLONormal:  PhaseSLONormal,
}

// attribute fills causes, phases and recoveries from the events.
func (a *Analysis) attribute(tol time.Duration) {
	ev := a.Events
	causeIdx := make([]int, len(a.Outages))
	for i := range a.Outages {
		o := &a.Outages[i]
		causeIdx[i] = -1
		// Cause: the fault or action nearest to the outage's start, among
		// those before it (or at most the tolerance after it: the first
		// failed request may have been sent just before the fault landed)
		// that were not reverted before it began.
		best := time.Duration(-1)
		for idx, e := range ev {
			if !causes(e.Kind) || e.At.After(o.Start.Add(tol)) {
				continue
			}
			if e.Kind == FaultInjected && reverted(ev, e, o.Start) {
				continue
			}
			if d := e.At.Sub(o.Start).Abs(); best < 0 || d < best {
				best, o.Cause, causeIdx[i] = d, eventLabel(e), idx
			}
		}
		// Phases from the probe.
		add := func(name string, at time.Time, src string) {
			if at.IsZero() {
				return
			}
			o.Phases = append(o.Phases, Phase{Name: name, At: at, Since: at.Sub(o.Start), Source: src})
		}
		add(PhaseDetected, o.DetectedAt, "probe")
		if !o.Ongoing {
			add(PhaseFirstGood, o.End, "probe")
			add(PhaseFirstToken, o.FirstTokenAt, "probe")
			add(PhaseConfirmed, o.RecoveredAt, "probe")
		}
		// Phases from events: the first of each kind after the outage began
		// (less the tolerance) and before the next outage.
		var limit time.Time
		if i+1 < len(a.Outages) {
			limit = a.Outages[i+1].Start
		}
		seen := map[string]bool{}
		for _, e := range ev {
			name, ok := phaseKinds[e.Kind]
			if !ok || seen[name] || e.At.Before(o.Start.Add(-tol)) || (!limit.IsZero() && !e.At.Before(limit)) {
				continue
			}
			seen[name] = true
			add(name, e.At, "event")
		}
		slices.SortStableFunc(o.Phases, func(x, y Phase) int { return x.At.Compare(y.At) })
	}
	// Recoveries: the outage this event caused (the one attributed to it),
	// else an outage already running when it happened.
	for j, e := range ev {
		if !causes(e.Kind) {
			continue
		}
		rec := Recovery{Event: e, Outage: -1}
		for i, o := range a.Outages {
			if causeIdx[i] == j || (causeIdx[i] < j && o.Start.Before(e.At) && o.End.After(e.At)) {
				rec.Outage = i
				rec.Time = max(o.End.Sub(e.At), 0)
				break
			}
		}
		a.Recoveries = append(a.Recoveries, rec)
	}
}

// reverted reports whether fault e was reverted before t.
func reverted(ev []Event, e Event, t time.Time) bool {
	for _, f := range ev {
		if f.Kind == FaultReverted && f.At.After(e.At) && f.At.Before(t) &&
			(f.Step == e.Step && f.Target == e.Target) {
			return true
		}
	}
	return false
}

// RecoveryAfter returns the time from t until the first outage ongoing at
// t, or starting in [t, until), ended; false when there is none (until zero:
// no limit).
func (a *Analysis) RecoveryAfter(t, until time.Time) (time.Duration, bool) {
	for _, o := range a.Outages {
		if (o.Start.Before(t) && o.End.After(t)) || (!o.Start.Before(t) && (until.IsZero() || o.Start.Before(until))) {
			return max(o.End.Sub(t), 0), true
		}
	}
	return 0, false
}
