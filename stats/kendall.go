package stats

import (
	"fmt"
	"math"
)

// Kendall is the result of a Mann-Kendall trend test.
type Kendall struct {
	// S is Kendall's score: concordant minus discordant pairs.
	S float64
	// VarS is S's variance under no trend, corrected for ties.
	VarS float64
	// Z is the continuity-corrected normal score (S∓1)/√VarS, 0 when S is.
	Z float64
	// P is the two-sided p-value of Z: the chance of a score at least as
	// far from 0 with no trend at all.
	P float64
	// Tau is Kendall's tau-b, S over the pairs not tied in x or y (0 when
	// every x or every y is equal).
	Tau float64
	// N is the number of points tested.
	N int
}

// MannKendall tests whether y trends with x (time): S counts the pairs
// that rise with x minus the pairs that fall, and is nearly normal under
// no trend for n ≥ 10 (Mann 1945, Kendall 1975 "Rank correlation
// methods"; the form of Gilbert 1987, "Statistical methods for
// environmental pollution monitoring", §16.4). The order of the points
// does not matter: a pair counts by sign(xj-xi)·sign(yj-yi), so a pair at
// the same x (two runs at one time) counts as neither.
//
// VarS is Kendall's variance of S with ties in both x and y, the one
// scipy.stats.kendalltau's asymptotic test uses:
//
//	[n(n-1)(2n+5) - Σt(t-1)(2t+5) - Σu(u-1)(2u+5)]/18
//	  + Σt(t-1)(t-2)·Σu(u-1)(u-2) / [9n(n-1)(n-2)]
//	  + Σt(t-1)·Σu(u-1) / [2n(n-1)]
//
// (t the sizes of groups of equal x, u of equal y); with distinct x it is
// the Mann-Kendall variance with Gilbert's tie correction.
//
// Points where x or y is NaN or infinite are dropped; fewer than 3 fail
// with ErrTooFewSamples.
func MannKendall(x, y []float64) (Kendall, error) {
	if len(x) != len(y) {
		return Kendall{}, fmt.Errorf("mann-kendall: %d x values for %d y values", len(x), len(y))
	}
	x, y = tsFinitePairs(x, y)
	n := len(x)
	if n < 3 {
		return Kendall{}, fmt.Errorf("mann-kendall over %d points, needs 3: %w", n, ErrTooFewSamples)
	}
	k := Kendall{N: n, S: mkScore(x, y), VarS: mkVarS(x, y)}
	if k.VarS > 0 {
		switch {
		case k.S > 0:
			k.Z = (k.S - 1) / math.Sqrt(k.VarS)
		case k.S < 0:
			k.Z = (k.S + 1) / math.Sqrt(k.VarS)
		}
	}
	k.P = min(1, math.Erfc(math.Abs(k.Z)/math.Sqrt2))
	pairs := float64(n) * float64(n-1) / 2
	tx, ty := pairs-mkTiedPairs(x), pairs-mkTiedPairs(y)
	if tx > 0 && ty > 0 {
		k.Tau = k.S / math.Sqrt(tx) / math.Sqrt(ty)
	}
	return k, nil
}

// mkScore is Σ_{i<j} sign(xj-xi)·sign(yj-yi).
func mkScore(x, y []float64) float64 {
	var s float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			s += mkSign(x[j]-x[i]) * mkSign(y[j]-y[i])
		}
	}
	return s
}

func mkSign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// mkVarS is the variance of S with ties in x and y (see MannKendall).
func mkVarS(x, y []float64) float64 {
	n := float64(len(x))
	m := n * (n - 1)
	v := (m*(2*n+5) - tsTieSum(x) - tsTieSum(y)) / 18
	v += 2 * mkTiedPairs(x) * mkTiedPairs(y) / m
	if n > 2 {
		v += mkTieCube(x) * mkTieCube(y) / (9 * m * (n - 2))
	}
	return v
}

// mkTiedPairs is Σ t(t-1)/2: the pairs of equal values in v.
func mkTiedPairs(v []float64) float64 {
	var sum float64
	for _, t := range tsTieGroups(v) {
		sum += t * (t - 1) / 2
	}
	return sum
}

// mkTieCube is Σ t(t-1)(t-2) over the groups of equal values in v.
func mkTieCube(v []float64) float64 {
	var sum float64
	for _, t := range tsTieGroups(v) {
		sum += t * (t - 1) * (t - 2)
	}
	return sum
}
