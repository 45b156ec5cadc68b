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
	if q < 0 || q > 1 || level <= 0 || level >= 1 || resamples < 10 {
		return QuantileDiff{}, fmt.Errorf("bootstrap quantile difference: q %g in [0,1], level %g in (0,1), resamples %d >= 10", q, level, resamples)
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
	diffs := make([]float64, resamples)
	below, above := 0, 0
	for i := range diffs {
		d := bsQuantile(ys, cy, q, rng) - bsQuantile(xs, cx, q, rng)
		diffs[i] = d
		if d <= 0 {
			below++
		}
		if d >= 0 {
			above++
		}
	}
	slices.Sort(diffs)
	r.Low = Quantile(diffs, (1-level)/2)
	r.High = Quantile(diffs, (1+level)/2)
	tail := min(below, above)
	r.P = min(1, 2*float64(tail+1)/float64(resamples+1))
	return r, nil
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
