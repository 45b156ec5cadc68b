package stats

import (
	"fmt"
	"math"
)

// propRelErr is the relative tolerance under which a table (or count) is
// as likely as the observed one and counts towards the two-sided p-value
// of an exact test, so that outcomes equally likely in exact arithmetic
// are not split by rounding. It is R's (fisher.test, binom.test) and
// scipy.stats.binomtest's 1 + 1e-7.
const propRelErr = 1 + 1e-7

// propFisherMinExpected is the smallest expected cell count for which
// TwoProportions trusts the normal approximation (Cochran's rule of thumb
// for 2x2 tables); below it the test is Fisher's exact test.
const propFisherMinExpected = 5

// TwoProportions returns the two-sided p-value of H0: k1/n1 and k2/n2 come from
// the same proportion (pooled z-test; Fisher's exact test when an expected cell
// count is below 5). Both 0/n: p = 1. Errors on n<=0 or k>n or k<0.
//
// The pooled z-test has z = (k1/n1 - k2/n2) / sqrt(p(1-p)(1/n1+1/n2)) with
// p = (k1+k2)/(n1+n2) and no continuity correction; z^2 is Pearson's
// chi-square of the 2x2 table, so p equals scipy.stats.chi2_contingency's
// with correction=False. Fisher's two-sided p-value sums the hypergeometric
// probabilities of every table with the observed margins that is no more
// likely than the observed one (the definition of R's fisher.test and
// scipy.stats.fisher_exact).
func TwoProportions(k1, n1, k2, n2 int64) (float64, error) {
	if err := propCheck(k1, n1); err != nil {
		return 0, fmt.Errorf("two proportions: first sample: %w", err)
	}
	if err := propCheck(k2, n2); err != nil {
		return 0, fmt.Errorf("two proportions: second sample: %w", err)
	}
	fn1, fn2 := float64(n1), float64(n2)
	pool := float64(k1+k2) / (fn1 + fn2)
	minExpected := min(fn1, fn2) * min(pool, 1-pool)
	if minExpected < propFisherMinExpected {
		return propFisher(k1, n1, k2, n2), nil
	}
	z := (float64(k1)/fn1 - float64(k2)/fn2) / math.Sqrt(pool*(1-pool)*(1/fn1+1/fn2))
	return math.Min(1, 2*NormalCDF(-math.Abs(z))), nil
}

func propCheck(k, n int64) error {
	switch {
	case n <= 0:
		return fmt.Errorf("%d trials, want at least 1", n)
	case k < 0 || k > n:
		return fmt.Errorf("%d successes of %d trials", k, n)
	}
	return nil
}

// propFisher is Fisher's exact two-sided test of the table
// [[k1, n1-k1], [k2, n2-k2]]: k1 is hypergeometric with population
// n1+n2, k1+k2 successes and n1 draws.
func propFisher(k1, n1, k2, n2 int64) float64 {
	succ := k1 + k2
	lo, hi := max(0, succ-n2), min(succ, n1)
	a, b, s := float64(n1), float64(n2), float64(succ)
	// P(x+1)/P(x) for the hypergeometric distribution.
	ratio := func(x float64) float64 {
		return (s - x) * (a - x) / ((x + 1) * (b - s + x + 1))
	}
	mode := int64(math.Floor((s + 1) * (a + 1) / (a + b + 2)))
	return propExactTwoSided(k1, lo, hi, min(max(mode, lo), hi), ratio)
}

// PoissonRates returns the two-sided p-value of H0: counts k1 over exposure t1
// and k2 over t2 have the same rate (exact conditional binomial test:
// k1 | k1+k2 ~ Binomial(k1+k2, t1/(t1+t2))). k1=k2=0: p = 1. Errors on t<=0.
//
// The conditional test is Przyborowski and Wilenski's (1940), the one R's
// poisson.test runs for two samples; its two-sided p-value is the binomial
// test's: the probability of every k no more likely than k1 (as
// scipy.stats.binomtest). Counts must not be negative.
func PoissonRates(k1 int64, t1 float64, k2 int64, t2 float64) (float64, error) {
	switch {
	case !(t1 > 0) || !(t2 > 0) || math.IsInf(t1, 0) || math.IsInf(t2, 0):
		return 0, fmt.Errorf("poisson rates: exposures %v and %v, want finite and positive", t1, t2)
	case k1 < 0 || k2 < 0:
		return 0, fmt.Errorf("poisson rates: negative count (%d, %d)", k1, k2)
	}
	n := k1 + k2
	if n == 0 {
		return 1, nil
	}
	p := t1 / (t1 + t2)
	fn := float64(n)
	// P(k+1)/P(k) for Binomial(n, p).
	ratio := func(k float64) float64 {
		return (fn - k) / (k + 1) * p / (1 - p)
	}
	mode := int64(math.Floor((fn + 1) * p))
	return propExactTwoSided(k1, 0, n, min(max(mode, 0), n), ratio), nil
}

// propExactTwoSided is the two-sided p-value of observing obs from a
// unimodal distribution on lo..hi with its mode at mode and
// P(x+1)/P(x) = ratio(x): the probability of every x with
// P(x) <= P(obs) * propRelErr. Probabilities are carried relative to the
// mode's (1), walking outwards, so no factorial is ever formed and large
// counts keep full relative precision; a walk stops where the terms fall
// below the smallest float64, so p-values under about 1e-308 come back as
// 0.
func propExactTwoSided(obs, lo, hi, mode int64, ratio func(float64) float64) float64 {
	// The observed outcome's probability relative to the mode's.
	w := 1.0
	for x := mode; x < obs && w > 0; x++ {
		w *= ratio(float64(x))
	}
	for x := mode; x > obs && w > 0; x-- {
		w /= ratio(float64(x - 1))
	}
	if w == 0 {
		return 0
	}
	limit := w * propRelErr
	total, tail := 1.0, 0.0
	if 1 <= limit {
		tail = 1
	}
	v := 1.0
	for x := mode; x < hi; x++ {
		if v *= ratio(float64(x)); v == 0 {
			break
		}
		total += v
		if v <= limit {
			tail += v
		}
	}
	v = 1.0
	for x := mode; x > lo; x-- {
		if v /= ratio(float64(x - 1)); v == 0 {
			break
		}
		total += v
		if v <= limit {
			tail += v
		}
	}
	return math.Min(1, tail/total)
}
