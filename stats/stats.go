// Package stats holds the statistics aiuptime judges runs with: rank tests
// that compare two runs' samples (Mann-Whitney U, Hodges-Lehmann), tests of
// counts (two proportions, two Poisson rates), robust trends over a
// history of runs (Theil-Sen, Mann-Kendall) and bounded reservoirs of
// samples. It is pure computation: no I/O, no clocks, no globals that
// change, so every result is reproducible from its inputs.
package stats

import (
	"errors"
	"math"
	"slices"
)

// ErrTooFewSamples is returned when a test or fit has fewer samples than
// it needs (after non-finite values were removed).
var ErrTooFewSamples = errors.New("too few samples")

// Finite returns the finite values of xs (a copy) and how many NaN or
// infinite values it removed: the "remove" NaN strategy of a canary judge.
func Finite(xs []float64) (out []float64, removed int) {
	out = make([]float64, 0, len(xs))
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			removed++
			continue
		}
		out = append(out, x)
	}
	return out, removed
}

// Quantile returns the q-quantile (0..1) of sorted, ascending values, by
// linear interpolation between closest ranks (type 7, the default of R
// and NumPy); NaN when sorted is empty.
func Quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	switch {
	case n == 0:
		return math.NaN()
	case q <= 0:
		return sorted[0]
	case q >= 1:
		return sorted[n-1]
	}
	h := q * float64(n-1)
	lo := int(math.Floor(h))
	if lo+1 >= n {
		return sorted[n-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// Median returns the median of xs (unsorted; xs is not modified); NaN
// when xs is empty.
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return Quantile(s, 0.5)
}

// NormalCDF is the standard normal distribution function Φ(z).
func NormalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// NormalQuantile is Φ⁻¹(p), the z with NormalCDF(z) = p, for 0 < p < 1.
func NormalQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }
