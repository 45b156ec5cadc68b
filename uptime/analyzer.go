package uptime

import (
	"math"
	"sort"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/aiuptime/aiuptime/probe"
)

// Histogram range: 1 µs to 1 hour at 3 significant digits (0.1 %).
const (
	histMin    = 1
	histMax    = int64(time.Hour / time.Microsecond)
	histDigits = 3
)

// Criteria are the per-request SLOs of goodput (GuideLLM, vLLM bench): a
// request counts toward goodput when it succeeded and met every non-zero
// limit. Errors and incomplete requests always count against.
type Criteria struct {
	MaxLatency time.Duration `json:"max_latency,omitempty"`
	MaxTTFT    time.Duration `json:"max_ttft,omitempty"`
	MaxTPOT    time.Duration `json:"max_tpot,omitempty"`
	MaxITL     time.Duration `json:"max_itl,omitempty"`
}

// IsZero reports whether no criterion is set.
func (c Criteria) IsZero() bool { return c == Criteria{} }

// Met reports whether r counts toward goodput.
func (c Criteria) Met(r probe.Result) bool {
	if !r.Outcome.Good() {
		return false
	}
	if c.MaxLatency > 0 && r.Latency > c.MaxLatency {
		return false
	}
	if c.MaxTTFT > 0 && r.TTFT > c.MaxTTFT {
		return false
	}
	if c.MaxTPOT > 0 && tpot(r) > c.MaxTPOT {
		return false
	}
	if c.MaxITL > 0 {
		for _, g := range r.ITL {
			if g > c.MaxITL {
				return false
			}
		}
	}
	return true
}

// tpot is (E2E - TTFT) / (tokens - 1), or 0 when undefined.
func tpot(r probe.Result) time.Duration {
	if r.Tokens < 2 || r.TTFT <= 0 || r.Latency < r.TTFT {
		return 0
	}
	return (r.Latency - r.TTFT) / time.Duration(r.Tokens-1)
}

// item is a result reduced to what ordered processing needs.
type item struct {
	seq   uint64
	start int64 // unix ns, intended send time
	obs   int64 // unix ns, when it observed the service (actual send)
	lat   int64 // ns
	ttft  int64 // ns
	code  uint16
	out   probe.Outcome
	be    uint8
}

// itemHeap is a min-heap by (seq, start), without container/heap's
// interface boxing (no allocation per push).
type itemHeap []item

func (h itemHeap) less(i, j int) bool {
	if h[i].seq != h[j].seq {
		return h[i].seq < h[j].seq
	}
	return h[i].start < h[j].start
}

func (h *itemHeap) push(x item) {
	*h = append(*h, x)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a.less(i, p) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *itemHeap) pop() item {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && a.less(l, m) {
			m = l
		}
		if r < n && a.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

// slice aggregates the requests whose intended start falls in one slice.
type slice struct {
	total, good uint32
	latSum      uint64 // µs
	latMax      uint32 // µs
}

// Analyzer folds probe results and events into an Analysis with bounded
// memory. Add and AddEvent may be called from any goroutine; results of one
// probe may arrive out of order (they are re-ordered by Seq, which must grow
// with the intended start time, as probe.Probe guarantees).
type Analyzer struct {
	mu     sync.Mutex
	o      options
	closed *Analysis

	pending itemHeap
	next    uint64

	base             int64 // unix ns of the first slice's start
	hasBase          bool
	minStart, maxEnd int64
	slices           []slice

	recs    records
	dropped int64

	total, good int64
	byOutcome   [8]int64
	byCode      map[int]int64
	backends    []string
	beIndex     map[string]uint8
	byBackend   map[string]int64
	goodput     int64

	lat, e2e, ttft, itl, tpot *hdr.Histogram

	det     detector
	outages []Outage
	events  []Event
}

// NewAnalyzer returns an Analyzer configured by opts.
func NewAnalyzer(opts ...Option) (*Analyzer, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Analyzer{
		o:         o,
		byCode:    map[int]int64{},
		beIndex:   map[string]uint8{},
		byBackend: map[string]int64{},
		lat:       hdr.New(histMin, histMax, histDigits),
		e2e:       hdr.New(histMin, histMax, histDigits),
		ttft:      hdr.New(histMin, histMax, histDigits),
		itl:       hdr.New(histMin, histMax, histDigits),
		tpot:      hdr.New(histMin, histMax, histDigits),
		det:       detector{failover: o.failover, recovery: o.recovery},
		recs:      records{cap: o.recordCap},
	}, nil
}

func record(h *hdr.Histogram, d time.Duration) {
	v := int64(d / time.Microsecond)
	if v < histMin {
		v = histMin
	}
	if v > histMax {
		v = histMax
	}
	_ = h.RecordValue(v) // in range by construction
}

// Add folds one result in. Results added after Close are ignored.
func (a *Analyzer) Add(r probe.Result) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed != nil {
		return
	}
	a.total++
	if int(r.Outcome) < len(a.byOutcome) {
		a.byOutcome[r.Outcome]++
	}
	a.byCode[r.Code]++
	be := uint8(0)
	if r.Backend != "" {
		a.byBackend[r.Backend]++
		idx, ok := a.beIndex[r.Backend]
		if !ok && len(a.backends) < 254 {
			a.backends = append(a.backends, r.Backend)
			idx = uint8(len(a.backends))
			a.beIndex[r.Backend] = idx
		} else if !ok {
			idx = 255
		}
		be = idx
	}
	record(a.lat, r.Latency)
	if r.Outcome.Good() {
		a.good++
		record(a.e2e, r.Latency)
		if r.TTFT > 0 {
			record(a.ttft, r.TTFT)
		}
		for _, g := range r.ITL {
			record(a.itl, g)
		}
		if t := tpot(r); t > 0 {
			record(a.tpot, t)
		}
	}
	if a.o.criteria.Met(r) {
		a.goodput++
	}
	it := item{
		seq: r.Seq, start: r.Start.UnixNano(), obs: r.Observed().UnixNano(), lat: int64(r.Latency), ttft: int64(r.TTFT),
		code: uint16(min(max(r.Code, 0), math.MaxUint16)), out: r.Outcome, be: be,
	}
	if len(a.pending) == 0 && it.seq <= a.next {
		// In order: no need to queue.
		if it.seq == a.next {
			a.next++
		}
		a.process(it)
		return
	}
	a.pending.push(it)
	a.release(false)
}

// release processes pending items in Seq order; all of them when flush.
func (a *Analyzer) release(flush bool) {
	for len(a.pending) > 0 {
		top := a.pending[0]
		if !flush && top.seq > a.next && len(a.pending) < reorderMax {
			return
		}
		a.pending.pop()
		if top.seq >= a.next {
			a.next = top.seq + 1
		}
		a.process(top)
	}
}

// process handles one item in start order.
func (a *Analyzer) process(it item) {
	end := it.start + it.lat
	if !a.hasBase {
		a.base = it.start - it.start%int64(a.o.slice)
		a.hasBase = true
		a.minStart, a.maxEnd = it.start, end
	}
	a.minStart = min(a.minStart, it.start)
	a.maxEnd = max(a.maxEnd, end)
	// Slices.
	idx := floorDiv(it.start-a.base, int64(a.o.slice))
	if idx < 0 { // a result from before the first one processed
		grow := int(-idx)
		a.slices = append(make([]slice, grow, grow+len(a.slices)), a.slices...)
		a.base -= int64(grow) * int64(a.o.slice)
		idx = 0
	}
	for int64(len(a.slices)) <= idx {
		a.slices = append(a.slices, slice{})
	}
	s := &a.slices[idx]
	s.total++
	latUs := uint64(it.lat / int64(time.Microsecond))
	s.latSum += latUs
	if latUs > uint64(s.latMax) {
		s.latMax = uint32(min(latUs, math.MaxUint32))
	}
	good := it.out.Good()
	if good {
		s.good++
	}
	// Compact record.
	if !a.recs.add(it) {
		a.dropped++
	}
	// Outages.
	if o := a.det.step(it, good); o != nil {
		a.outages = append(a.outages, *o)
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// AddEvent places an event on the timeline. Events added after Close are
// ignored.
func (a *Analyzer) AddEvent(e Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed != nil {
		return
	}
	a.events = append(a.events, e)
}

// Close finishes the analysis; later calls return the same Analysis.
func (a *Analyzer) Close() *Analysis {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed != nil {
		return a.closed
	}
	a.release(true)
	an := a.build()
	a.closed = an
	return an
}

// detector is the outage state machine of the seed: failover after N
// consecutive failures, recovery after M consecutive successes, both on
// requests in intended-start order. Boundaries are the times the requests
// observed the service (their actual send), not their intended start: a
// request the scheduler sent late saw the service late.
type detector struct {
	failover, recovery int
	down               bool
	failRun            int
	failRunStart       int64
	failRunFirstEnd    int64
	lastGoodEnd        int64
	goodRun            int
	goodRunStart       int64
	goodRunTTFT        int64
	reqsBeforeGood     int64
	cur                Outage
}

func (d *detector) step(it item, good bool) *Outage {
	end := it.start + it.lat
	if !d.down {
		if good {
			d.failRun = 0
			d.lastGoodEnd = max(d.lastGoodEnd, end)
			return nil
		}
		if d.failRun == 0 {
			d.failRunStart = it.obs
			d.failRunFirstEnd = end
		}
		d.failRun++
		if d.failRun >= d.failover {
			d.down = true
			d.goodRun = 0
			// The service was seen working until lastGoodEnd: a request in
			// flight across the fault began before the fault did.
			start := min(max(d.failRunStart, d.lastGoodEnd), d.failRunFirstEnd)
			d.cur = Outage{
				Start:      time.Unix(0, start),
				DetectedAt: time.Unix(0, end),
				Failed:     int64(d.failRun),
				Requests:   int64(d.failRun),
			}
		}
		return nil
	}
	d.cur.Requests++
	if !good {
		d.cur.Failed++
		d.goodRun = 0
		return nil
	}
	if d.goodRun == 0 {
		d.goodRunStart = it.obs
		d.goodRunTTFT = it.ttft
		d.reqsBeforeGood = d.cur.Requests - 1
	}
	d.goodRun++
	if d.goodRun < d.recovery {
		return nil
	}
	o := d.cur
	o.End = time.Unix(0, d.goodRunStart)
	o.RecoveredAt = time.Unix(0, end)
	o.Requests = d.reqsBeforeGood
	if o.End.Before(o.Start) {
		// Concurrent requests: the first good one of the recovered run
		// left before the evidence moved the start (a slow good answer or a
		// slow failure). The outage cannot end before it began.
		o.Start = o.End
	}
	o.Duration = o.End.Sub(o.Start)
	if d.goodRunTTFT > 0 {
		o.FirstTokenAt = o.End.Add(time.Duration(d.goodRunTTFT))
	}
	d.down, d.failRun, d.goodRun = false, 0, 0
	d.lastGoodEnd = end
	return &o
}

// open returns the outage still in progress, if any, closed at end.
func (d *detector) open(end time.Time) *Outage {
	if !d.down {
		return nil
	}
	o := d.cur
	o.End = end
	o.Ongoing = true
	o.Duration = o.End.Sub(o.Start)
	return &o
}

// build computes the Analysis; a.mu is held.
func (a *Analyzer) build() *Analysis {
	an := &Analysis{
		Total:          a.total,
		Good:           a.good,
		Failed:         a.total - a.good,
		ByOutcome:      map[string]int64{},
		ByCode:         a.byCode,
		ByBackend:      a.byBackend,
		Events:         append([]Event(nil), a.events...),
		RecordsKept:    int64(a.recs.n),
		RecordsDropped: a.dropped,
		Thresholds:     Thresholds{Failover: a.o.failover, Recovery: a.o.recovery},
		SliceWidth:     a.o.slice,
		lat:            a.lat, e2e: a.e2e, ttft: a.ttft, itl: a.itl, tpot: a.tpot,
		slices:   a.slices,
		recs:     &a.recs,
		backends: a.backends,
		base:     a.base,
	}
	sort.SliceStable(an.Events, func(i, j int) bool { return an.Events[i].At.Before(an.Events[j].At) })
	for o, n := range a.byOutcome {
		if n > 0 {
			an.ByOutcome[probe.Outcome(o).String()] = n
		}
	}
	if a.hasBase {
		an.Start, an.End = time.Unix(0, a.minStart), time.Unix(0, a.maxEnd)
	}
	span := an.End.Sub(an.Start)
	an.Span = span
	an.Outages = append([]Outage(nil), a.outages...)
	if o := a.det.open(an.End); o != nil {
		an.Outages = append(an.Outages, *o)
	}
	incomplete := a.byOutcome[probe.Timeout] + a.byOutcome[probe.Truncated] + a.byOutcome[probe.Stalled]
	failed := a.byOutcome[probe.Error]
	an.Latency = dist(a.lat, 0, 0)
	an.E2E = dist(a.e2e, failed, incomplete)
	an.TTFT = dist(a.ttft, failed, incomplete)
	an.ITL = dist(a.itl, failed, incomplete)
	an.TPOT = dist(a.tpot, failed, incomplete)
	// Availability.
	if a.total > 0 {
		an.Availability.RequestBased = float64(a.good) / float64(a.total)
	}
	var goodSlices, usedSlices int
	for _, s := range a.slices {
		if s.total == 0 {
			continue
		}
		usedSlices++
		if float64(s.good) >= a.o.target*float64(s.total) {
			goodSlices++
		}
	}
	an.Availability.Slices, an.Availability.GoodSlices = usedSlices, goodSlices
	an.Availability.SliceTarget = a.o.target
	if usedSlices > 0 {
		an.Availability.TimeBased = float64(goodSlices) / float64(usedSlices)
	}
	var down time.Duration
	for i := range an.Outages {
		down += an.Outages[i].Duration
	}
	an.Downtime = down
	if span > 0 {
		an.Availability.Uptime = 1 - float64(down)/float64(span)
		an.Throughput = float64(a.total) / span.Seconds()
		an.GoodThroughput = float64(a.good) / span.Seconds()
	}
	if n := len(an.Outages); n > 0 {
		an.MTTR = down / time.Duration(n)
		an.MTBF = (span - down) / time.Duration(n)
		for _, o := range an.Outages {
			an.LongestOutage = max(an.LongestOutage, o.Duration)
		}
	}
	// Goodput.
	an.Goodput.Criteria = a.o.criteria
	if !a.o.criteria.IsZero() {
		an.Goodput.Good = a.goodput
		if a.total > 0 {
			an.Goodput.Attainment = float64(a.goodput) / float64(a.total)
		}
		if span > 0 {
			an.Goodput.PerSecond = float64(a.goodput) / span.Seconds()
		}
	}
	an.attribute(a.o.tolerance)
	return an
}
