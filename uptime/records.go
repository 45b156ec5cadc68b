package uptime

import (
	"math"
	"time"

	"github.com/aiuptime/aiuptime/probe"
)

// crec is the compact record kept per request: 24 bytes with padding
// (start offset, latency and TTFT in µs, status code, outcome, backend).
type crec struct {
	off  int64  // ns since the analysis base, intended start
	lat  uint32 // µs, saturating (71 min)
	ttft uint32 // µs
	code uint16
	out  probe.Outcome
	be   uint8 // 0 none, 1..254 backend index+1, 255 other
}

// chunkLen is the number of records per chunk; chunks avoid copying a huge
// slice when it grows.
const chunkLen = 1 << 16

// records is an append-only chunked store of compact records in start
// order, up to a cap.
type records struct {
	cap    int
	n      int
	base   int64
	chunks [][]crec
}

func us32(ns int64) uint32 {
	v := ns / int64(time.Microsecond)
	if v < 0 {
		return 0
	}
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

// add stores it; false when the cap is reached.
func (r *records) add(it item) bool {
	if r.n >= r.cap {
		return false
	}
	if r.n == 0 {
		r.base = it.start
	}
	if r.n%chunkLen == 0 {
		r.chunks = append(r.chunks, make([]crec, 0, min(chunkLen, r.cap-r.n)))
	}
	c := &r.chunks[len(r.chunks)-1]
	*c = append(*c, crec{off: it.start - r.base, lat: us32(it.lat), ttft: us32(it.ttft), code: it.code, out: it.out, be: it.be})
	r.n++
	return true
}

func (r *records) at(i int) *crec { return &r.chunks[i/chunkLen][i%chunkLen] }

// search returns the index of the first record starting at or after t
// (unix ns). Records are in Seq order, which is start order for a probe.
func (r *records) search(t int64) int {
	lo, hi := 0, r.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.base+r.at(m).off < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
