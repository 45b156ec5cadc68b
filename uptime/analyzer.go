package uptime

import (
	"math"
	"sort"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/aiuptime/aiuptime/probe"
	"github.com/aiuptime/aiuptime/stats"
)

// Histogram range: 1 µs to 1 hour at 3 significant digits (0.1 %).
const (
	histMin    = 1
	histMax    = int64(time.Hour / time.Microsecond)
	histDigits = 3
)

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

	pending minHeap[item]
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
	// latSample and ttftSample are uniform samples of the same values as
	// lat and ttft, for rank tests between runs.
	latSample, ttftSample *stats.Reservoir

	seq    sequencer
	events []Event
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
		// Two streams of one seed: the TTFT sample does not mirror the
		// latency sample's choices.
		latSample:  stats.NewReservoir(o.sampleCap, o.seed),
		ttftSample: stats.NewReservoir(o.sampleCap, o.seed^0x7f4a_7c15),
		seq:        sequencer{det: detector{failover: o.failover, recovery: o.recovery}},
		recs:       records{cap: o.recordCap},
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
	be := a.backend(r.Backend)
	a.recordLatencies(r)
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
	a.pending.push(int64(it.seq), it.start, it)
	a.release(false)
}

// backend counts a request answered by name and returns its compact index:
// 0 for none, 1..254 for the first 254 backends seen, 255 for the others.
func (a *Analyzer) backend(name string) uint8 {
	if name == "" {
		return 0
	}
	a.byBackend[name]++
	idx, ok := a.beIndex[name]
	if !ok && len(a.backends) < 254 {
		a.backends = append(a.backends, name)
		idx = uint8(len(a.backends))
		a.beIndex[name] = idx
	} else if !ok {
		idx = 255
	}
	return idx
}

// recordLatencies adds r to the histograms: latency for every request, the
// others for good ones only; a.good counts those.
func (a *Analyzer) recordLatencies(r probe.Result) {
	record(a.lat, r.Latency)
	// Tagged with the intended start (unix seconds): comparisons resample
	// requests in blocks of time.
	sent := float64(r.Start.UnixNano()) / 1e9
	a.latSample.AddTagged(r.Latency.Seconds(), sent)
	if !r.Outcome.Good() {
		return
	}
	a.good++
	record(a.e2e, r.Latency)
	if r.TTFT > 0 {
		record(a.ttft, r.TTFT)
		a.ttftSample.AddTagged(r.TTFT.Seconds(), sent)
	}
	for _, g := range r.ITL {
		record(a.itl, g)
	}
	if t := tpot(r); t > 0 {
		record(a.tpot, t)
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
	// Outages, in observation order.
	a.seq.add(it.answer(), it.start)
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

// build computes the Analysis; a.mu is held.
func (a *Analyzer) build() *Analysis {
	an := &Analysis{
		Total:          a.total,
		Good:           a.good,
		Failed:         a.total - a.good,
		ByOutcome:      a.outcomeNames(),
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
	if a.hasBase {
		an.Start, an.End = time.Unix(0, a.minStart), time.Unix(0, a.maxEnd)
	}
	an.Span = an.End.Sub(an.Start)
	an.Outages = append([]Outage(nil), a.seq.outages...)
	if o := a.seq.det.open(an.End); o != nil {
		an.Outages = append(an.Outages, *o)
	}
	a.fillDists(an)
	an.Samples = Samples{
		Latency: SampleSet{Seen: a.latSample.Seen(), Values: a.latSample.Values(), At: a.latSample.Tags()},
		TTFT:    SampleSet{Seen: a.ttftSample.Seen(), Values: a.ttftSample.Values(), At: a.ttftSample.Tags()},
	}
	a.fillAvailability(an)
	an.fillOutageStats()
	a.fillRates(an)
	an.attribute(a.o.tolerance)
	return an
}

// outcomeNames returns the non-zero outcome counts by outcome name.
func (a *Analyzer) outcomeNames() map[string]int64 {
	out := map[string]int64{}
	for o, n := range a.byOutcome {
		if n > 0 {
			out[probe.Outcome(o).String()] = n
		}
	}
	return out
}

// fillDists summarises the histograms; the failed and incomplete counts go
// beside the distributions of successful requests.
func (a *Analyzer) fillDists(an *Analysis) {
	incomplete := a.byOutcome[probe.Timeout] + a.byOutcome[probe.Truncated] + a.byOutcome[probe.Stalled]
	failed := a.byOutcome[probe.Error]
	an.Latency = dist(a.lat, 0, 0)
	an.E2E = dist(a.e2e, failed, incomplete)
	an.TTFT = dist(a.ttft, failed, incomplete)
	an.ITL = dist(a.itl, failed, incomplete)
	an.TPOT = dist(a.tpot, failed, incomplete)
}

// fillAvailability sets the request-based and time-based availability.
func (a *Analyzer) fillAvailability(an *Analysis) {
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
}

// fillOutageStats sets Downtime, the uptime ratio, MTTR, MTBF and the
// longest outage from Outages and Span.
func (an *Analysis) fillOutageStats() {
	var down time.Duration
	for i := range an.Outages {
		down += an.Outages[i].Duration
	}
	an.Downtime = down
	if an.Span > 0 {
		an.Availability.Uptime = 1 - float64(down)/float64(an.Span)
	}
	if n := len(an.Outages); n > 0 {
		an.MTTR = down / time.Duration(n)
		an.MTBF = (an.Span - down) / time.Duration(n)
		for _, o := range an.Outages {
			an.LongestOutage = max(an.LongestOutage, o.Duration)
		}
	}
}

// fillRates sets the throughputs and the goodput over Span.
func (a *Analyzer) fillRates(an *Analysis) {
	span := an.Span
	if span > 0 {
		an.Throughput = float64(a.total) / span.Seconds()
		an.GoodThroughput = float64(a.good) / span.Seconds()
	}
	an.Goodput.Criteria = a.o.criteria
	if a.o.criteria.IsZero() {
		return
	}
	an.Goodput.Good = a.goodput
	if a.total > 0 {
		an.Goodput.Attainment = float64(a.goodput) / float64(a.total)
	}
	if span > 0 {
		an.Goodput.PerSecond = float64(a.goodput) / span.Seconds()
	}
}
