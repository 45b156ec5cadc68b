package uptime

import (
	"iter"
	"math"
	"slices"
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

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
