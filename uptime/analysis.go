package uptime

import (
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
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
	// Samples are uniform samples of the latency and TTFT values behind
	// Latency and TTFT, bounded (WithSamples), for comparing runs.
	Samples Samples `json:"samples"`

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

// Samples are bounded uniform samples of a run's per-request values.
type Samples struct {
	// Latency is over every request, as Latency is (seconds).
	Latency SampleSet `json:"latency"`
	// TTFT is over successful streams, as TTFT is (seconds).
	TTFT SampleSet `json:"ttft"`
}

// SampleSet is one reservoir: Values were drawn uniformly from Seen
// values.
type SampleSet struct {
	Seen   int64     `json:"seen"`
	Values []float64 `json:"values"`
	// At is when each value's request was meant to start, in unix seconds.
	At []float64 `json:"at"`
}
