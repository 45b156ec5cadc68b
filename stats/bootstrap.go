package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// QuantileDiff is a bootstrap test of how one quantile differs between two
// samples: a tail (p95, p99) can move while the middle stands still, which
// a rank test of location does not see, and noise in a tail of ten values
// is no regression, which a plain difference of two quantiles cannot tell.
type QuantileDiff struct {
	Q      float64 // the quantile (0.95)
	N1, N2 int     // finite samples used
	// Estimate is quantile(y) - quantile(x); Low and High bound it at
	// Level (percentile bootstrap interval).
	Estimate, Low, High float64
	Level               float64
	// P is the two-sided bootstrap p-value of "the quantiles are equal":
	// twice the share of resampled differences on the far side of 0.
	P         float64
	Resamples int
	// Blocks counts each side's blocks (0 when resampled value by value).
	Blocks [2]int
}

// BootstrapQuantileDiff resamples x and y with replacement (resamples
// times, seeded: the same inputs give the same result) and returns the
// test of quantile q's difference. A resample's quantile is found by
// counting draws per rank of the sorted sample, so each resample costs
// O(n), not a sort. ErrTooFewSamples when either side has fewer than 2
// finite values.
//
// Method: Efron and Tibshirani, An Introduction to the Bootstrap (1993),
// ch. 13 (percentile interval) and ch. 16 (bootstrap tests); quantiles are
// type 7 as Quantile.
func BootstrapQuantileDiff(x, y []float64, q, level float64, resamples int, seed uint64) (QuantileDiff, error) {
	if err := bsCheck(q, level, resamples); err != nil {
		return QuantileDiff{}, err
	}
	xs, _ := Finite(x)
	ys, _ := Finite(y)
	if len(xs) < 2 || len(ys) < 2 {
		return QuantileDiff{}, fmt.Errorf("bootstrap quantile difference of %d and %d values: %w", len(xs), len(ys), ErrTooFewSamples)
	}
	slices.Sort(xs)
	slices.Sort(ys)
	r := QuantileDiff{Q: q, N1: len(xs), N2: len(ys), Level: level, Resamples: resamples,
		Estimate: Quantile(ys, q) - Quantile(xs, q)}
	rng := rand.New(rand.NewPCG(seed, math.Float64bits(q)))
	cx, cy := make([]int, len(xs)), make([]int, len(ys))
	r.resample(func() float64 { return bsQuantile(ys, cy, q, rng) - bsQuantile(xs, cx, q, rng) })
	return r, nil
}

// bsCheck refuses a quantile outside [0,1], a level outside (0,1) and
// fewer than 10 resamples.
func bsCheck(q, level float64, resamples int) error {
	if q < 0 || q > 1 || level <= 0 || level >= 1 || resamples < 10 {
		return fmt.Errorf("bootstrap quantile difference: q %g in [0,1], level %g in (0,1), resamples %d >= 10", q, level, resamples)
	}
	return nil
}

// resample draws r.Resamples differences and sets the percentile
// interval at r.Level and the two-sided p-value: twice the share (with
// the +1 of a finite-sample bootstrap p) of differences on the far side
// of 0.
func (r *QuantileDiff) resample(diff func() float64) {
	diffs := make([]float64, r.Resamples)
	below, above := 0, 0
	for i := range diffs {
		d := diff()
		diffs[i] = d
		if d <= 0 {
			below++
		}
		if d >= 0 {
			above++
		}
	}
	slices.Sort(diffs)
	r.Low = Quantile(diffs, (1-r.Level)/2)
	r.High = Quantile(diffs, (1+r.Level)/2)
	r.P = min(1, 2*float64(min(below, above)+1)/float64(r.Resamples+1))
}

// bsQuantile is the q-quantile of one resample of sorted (type 7),
// drawn into counts (reset here): counts[i] is how often sorted[i] was
// drawn, so the resample's k-th smallest value is found by a walk.
func bsQuantile(sorted []float64, counts []int, q float64, rng *rand.Rand) float64 {
	n := len(sorted)
	clear(counts)
	for range n {
		counts[rng.IntN(n)]++
	}
	h := q * float64(n-1)
	lo := int(math.Floor(h))
	hi := min(lo+1, n-1)
	var vlo, vhi float64
	seen := 0
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if seen <= lo && lo < seen+c {
			vlo = sorted[i]
		}
		if seen <= hi && hi < seen+c {
			vhi = sorted[i]
			break
		}
		seen += c
	}
	return vlo + (h-float64(lo))*(vhi-vlo)
}

// BlockBootstrapQuantileDiff is BootstrapQuantileDiff with each sample
// resampled in blocks: xb[i] names the block of x[i] (the slice of the
// run its request was sent in), and a resample draws as many whole blocks
// as the sample has, with replacement. Requests close in time share their
// fate (a failover slows a burst of them), so a tail made by two such
// bursts varies between runs far more than its count of values says;
// drawing whole blocks keeps that dependence in the interval. Nil xb and
// yb resample value by value. ErrTooFewSamples when a side has fewer than
// 2 blocks.
//
// Method: Künsch (1989), "The jackknife and the bootstrap for general
// stationary observations", non-overlapping blocks (Carlstein 1986).
func BlockBootstrapQuantileDiff(x []float64, xb []int, y []float64, yb []int, q, level float64, resamples int, seed uint64) (QuantileDiff, error) {
	if xb == nil && yb == nil {
		return BootstrapQuantileDiff(x, y, q, level, resamples, seed)
	}
	if len(xb) != len(x) || len(yb) != len(y) {
		return QuantileDiff{}, fmt.Errorf("block bootstrap: %d values with %d blocks, %d with %d", len(x), len(xb), len(y), len(yb))
	}
	if err := bsCheck(q, level, resamples); err != nil {
		return QuantileDiff{}, err
	}
	gx, nx := bsBlocks(x, xb)
	gy, ny := bsBlocks(y, yb)
	if len(gx) < 2 || len(gy) < 2 {
		return QuantileDiff{}, fmt.Errorf("block bootstrap of %d and %d blocks: %w", len(gx), len(gy), ErrTooFewSamples)
	}
	r := QuantileDiff{Q: q, N1: nx, N2: ny, Level: level, Resamples: resamples, Blocks: [2]int{len(gx), len(gy)},
		Estimate: bsBlockQuantile(gy, nil, q, nil) - bsBlockQuantile(gx, nil, q, nil)}
	rng := rand.New(rand.NewPCG(seed, math.Float64bits(q)^0xb10c))
	buf := make([]float64, 0, max(nx, ny)*2)
	r.resample(func() float64 { return bsBlockQuantile(gy, rng, q, buf) - bsBlockQuantile(gx, rng, q, buf) })
	return r, nil
}

// bsBlocks groups the finite values by block, in block order.
func bsBlocks(xs []float64, blocks []int) (groups [][]float64, n int) {
	by := map[int][]float64{}
	for i, v := range xs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		by[blocks[i]] = append(by[blocks[i]], v)
		n++
	}
	ids := make([]int, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		groups = append(groups, by[id])
	}
	return groups, n
}

// bsBlockQuantile is the q-quantile of len(groups) blocks drawn with
// replacement (every block once, in order, when rng is nil).
func bsBlockQuantile(groups [][]float64, rng *rand.Rand, q float64, buf []float64) float64 {
	buf = buf[:0]
	for i := range groups {
		g := groups[i]
		if rng != nil {
			g = groups[rng.IntN(len(groups))]
		}
		buf = append(buf, g...)
	}
	return bsSelectQuantile(buf, q)
}

// bsSelectQuantile is Quantile of xs unsorted (xs is reordered): the two
// order statistics it interpolates between are found by selection, in
// linear time rather than a sort's n log n.
func bsSelectQuantile(xs []float64, q float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	h := q * float64(n-1)
	lo := min(int(math.Floor(h)), n-1)
	vlo := bsSelect(xs, lo)
	if lo+1 >= n {
		return vlo
	}
	vhi := slices.Min(xs[lo+1:]) // after selection, all above lo are >= vlo
	return vlo + (h-float64(lo))*(vhi-vlo)
}

// bsSelect reorders xs so that xs[k] is its k-th smallest value, smaller
// ones before and larger ones after (Hoare's selection, middle pivot),
// and returns it.
func bsSelect(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		pivot := xs[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}
