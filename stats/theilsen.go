package stats

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrBadLevel is returned for a confidence level outside (0, 1).
var ErrBadLevel = errors.New("confidence level must be between 0 and 1, exclusive")

// Line is a robust straight line y = Intercept + Slope*x, fitted by
// TheilSen.
type Line struct {
	// Slope is the median of the pairwise slopes; SlopeLow and SlopeHigh
	// bound it at Level with Sen's distribution-free interval.
	Slope, Intercept    float64
	SlopeLow, SlopeHigh float64
	// CenterX and CenterY are the medians of x and y: the line passes
	// through (CenterX, CenterY), and so do the lines of slope SlopeLow
	// and SlopeHigh that bound it.
	CenterX, CenterY float64
	// R2 is 1 - SSres/SStot of the fitted line. It is not a least-squares
	// R²: a robust line that ignores an outlier can explain less of the
	// variance than the mean does, and R2 is then negative. When y does
	// not vary it is 1 if the line passes through every point, else 0.
	R2 float64
	// N is the number of points fitted; Level the interval's level.
	N     int
	Level float64
}

// At is the line's value at x.
func (l Line) At(x float64) float64 { return l.Intercept + l.Slope*x }

// TheilSen fits the Theil-Sen line through the points (x[i], y[i]): the
// slope is the median of the slopes of every pair of points (pairs with
// equal x are skipped), the intercept is median(y) - Slope*median(x), so
// the line passes through the point of medians (scipy.stats.theilslopes'
// default method "separate", after Conover 1980). The slope's interval at
// level is Sen's (Sen 1968, "Estimates of the regression coefficient based
// on Kendall's tau", JASA 63, eq. 2.6): with N pairwise slopes sorted and
// σ² = [n(n-1)(2n+5) - Σ ties in x - Σ ties in y]/18 (each tie group of
// size t counting t(t-1)(2t+5)), the bounds are the slopes of rank
// round((N ∓ z σ)/2), z the normal quantile of (1+level)/2, rounded half
// to even and clipped to the slopes there are, as scipy does.
//
// Points where x or y is NaN or infinite are dropped. It fails with
// ErrTooFewSamples when fewer than two distinct x remain, and with
// ErrBadLevel when level is not in (0, 1).
func TheilSen(x, y []float64, level float64) (Line, error) {
	if len(x) != len(y) {
		return Line{}, fmt.Errorf("theil-sen: %d x values for %d y values", len(x), len(y))
	}
	if !(level > 0 && level < 1) {
		return Line{}, fmt.Errorf("theil-sen at level %v: %w", level, ErrBadLevel)
	}
	x, y = tsFinitePairs(x, y)
	slopes := tsPairSlopes(x, y)
	if len(slopes) == 0 {
		return Line{}, fmt.Errorf("theil-sen over %d points at %d distinct x: %w", len(x), tsDistinct(x), ErrTooFewSamples)
	}
	slices.Sort(slopes)
	l := Line{N: len(x), Level: level, Slope: Quantile(slopes, 0.5), CenterX: Median(x), CenterY: Median(y)}
	l.Intercept = l.CenterY - l.Slope*l.CenterX

	n := float64(len(x))
	varS := (n*(n-1)*(2*n+5) - tsTieSum(x) - tsTieSum(y)) / 18
	z := NormalQuantile((1 + level) / 2)
	nt := float64(len(slopes))
	hi := min(int(math.RoundToEven((nt+z*math.Sqrt(varS))/2)), len(slopes)-1)
	lo := max(int(math.RoundToEven((nt-z*math.Sqrt(varS))/2))-1, 0)
	l.SlopeLow, l.SlopeHigh = slopes[lo], slopes[hi]
	l.R2 = tsR2(l, x, y)
	return l, nil
}

// tsFinitePairs returns the pairs where both values are finite.
func tsFinitePairs(x, y []float64) (fx, fy []float64) {
	fx, fy = make([]float64, 0, len(x)), make([]float64, 0, len(y))
	for i := range x {
		if tsIsFinite(x[i]) && tsIsFinite(y[i]) {
			fx, fy = append(fx, x[i]), append(fy, y[i])
		}
	}
	return fx, fy
}

func tsIsFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// tsPairSlopes is the slope of every pair of points with different x.
func tsPairSlopes(x, y []float64) []float64 {
	var s []float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			if dx := x[j] - x[i]; dx != 0 {
				s = append(s, (y[j]-y[i])/dx)
			}
		}
	}
	return s
}

// tsTieSum is Σ t(t-1)(2t+5) over the groups of t equal values of v:
// what ties take away from n(n-1)(2n+5) in the variance of Kendall's S.
func tsTieSum(v []float64) float64 {
	var sum float64
	for _, t := range tsTieGroups(v) {
		sum += t * (t - 1) * (2*t + 5)
	}
	return sum
}

// tsTieGroups returns the sizes (as floats) of the groups of two or more
// equal values in v.
func tsTieGroups(v []float64) []float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	var groups []float64
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j] == s[i] {
			j++
		}
		if j-i > 1 {
			groups = append(groups, float64(j-i))
		}
		i = j
	}
	return groups
}

// tsDistinct counts the distinct values of v.
func tsDistinct(v []float64) int {
	s := slices.Clone(v)
	slices.Sort(s)
	return len(slices.Compact(s))
}

// tsR2 is 1 - SSres/SStot of l over the points.
func tsR2(l Line, x, y []float64) float64 {
	var mean float64
	for _, v := range y {
		mean += v
	}
	mean /= float64(len(y))
	var res, tot float64
	for i := range x {
		d := y[i] - l.At(x[i])
		res += d * d
		tot += (y[i] - mean) * (y[i] - mean)
	}
	switch {
	case tot > 0:
		return 1 - res/tot
	case res == 0:
		return 1
	default:
		return 0
	}
}
