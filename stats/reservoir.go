package stats

import (
	"math/rand/v2"
	"slices"
)

// resSeedStream is the PCG stream (its second seed word) of every
// Reservoir: the seed chooses the sample, the stream is fixed.
const resSeedStream = 0x7265736572766f69 // "reservoi"

// resPrealloc bounds the slots a Reservoir allocates up front, so a large
// capacity costs memory only as values arrive.
const resPrealloc = 4096

// Reservoir keeps a uniform sample of at most Cap values of a stream
// (Vitter's Algorithm R) with a deterministic seeded generator
// (math/rand/v2 PCG), so a run's sample is reproducible.
//
// Algorithm R (J. S. Vitter, "Random Sampling with a Reservoir", ACM TOMS
// 11(1), 1985, crediting Waterman): the first Cap values fill the slots;
// the t-th value after that (t counted from 1 over the whole stream)
// replaces a slot chosen uniformly with probability Cap/t, so every value
// offered is in the sample with the same probability Cap/Seen.
//
// A Reservoir is not safe for concurrent use: callers that Add from
// several goroutines must hold a lock around every method.
type Reservoir struct {
	slots []float64
	// tags go with slots when values come through AddTagged.
	tags  []float64
	limit int
	seen  int64
	rng   *rand.Rand
}

// NewReservoir returns an empty reservoir keeping at most capacity values
// (a capacity below 0 counts as 0: the reservoir only counts), drawing its
// choices from a PCG generator seeded with seed.
func NewReservoir(capacity int, seed uint64) *Reservoir {
	capacity = max(capacity, 0)
	return &Reservoir{
		slots: make([]float64, 0, min(capacity, resPrealloc)),
		limit: capacity,
		rng:   rand.New(rand.NewPCG(seed, resSeedStream)),
	}
}

// Add offers v to the sample.
func (r *Reservoir) Add(v float64) { r.add(v, 0, false) }

// AddTagged offers v with a tag kept beside it (the time of the request
// it measured): Tags returns them in the order of Values. Use either Add
// or AddTagged on one reservoir, not both.
func (r *Reservoir) AddTagged(v, tag float64) { r.add(v, tag, true) }

func (r *Reservoir) add(v, tag float64, tagged bool) {
	r.seen++
	if len(r.slots) < r.limit {
		r.slots = append(r.slots, v)
		if tagged {
			r.tags = append(r.tags, tag)
		}
		return
	}
	if r.limit == 0 {
		return
	}
	// Keep the seen-th value with probability limit/seen, in a uniform slot.
	if j := r.rng.Int64N(r.seen); j < int64(r.limit) {
		r.slots[j] = v
		if tagged {
			r.tags[j] = tag
		}
	}
}

// Tags returns a copy of the kept values' tags (nil without AddTagged).
func (r *Reservoir) Tags() []float64 { return slices.Clone(r.tags) }

// Values returns a copy of the sample, in insertion-slot order (not
// sorted; the order of arrival for a stream shorter than Cap).
func (r *Reservoir) Values() []float64 { return slices.Clone(r.slots) }

// Seen returns how many values were offered so far.
func (r *Reservoir) Seen() int64 { return r.seen }

// Cap returns the most values the reservoir keeps.
func (r *Reservoir) Cap() int { return r.limit }
