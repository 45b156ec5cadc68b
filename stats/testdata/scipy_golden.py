#!/usr/bin/env python3
"""Writes scipy_golden.json: reference values from scipy for stats' tests.

Run from this directory with a Python that has scipy (Debian: python3-scipy):

    /usr/bin/python3 scipy_golden.py > scipy_golden.json

Nothing here is translated into the Go code; the Go tests compare their own
results with these numbers (U and p-values to 1e-9 relative).

- mannwhitney: scipy.stats.mannwhitneyu(x, y, alternative="two-sided") with
  method="exact" when the samples have no ties and n1*n2 <= 400 (the bound
  of stats.MWExactMaxPairs), else method="asymptotic", use_continuity=True.
  The Hodges-Lehmann shift and interval come from numpy: every difference
  y_j - x_i sorted, the median, and the ranks C and n1*n2-C+1 with
  C = floor(n1*n2/2 - z * sqrt(n1*n2*(n1+n2+1)/12)), z = norm.ppf((1+level)/2).
- two_proportions: scipy.stats.fisher_exact when an expected cell count is
  below 5, else chi2_contingency(correction=False), whose p equals the
  two-sided pooled z-test's.
- poisson_rates: scipy.stats.binomtest(k1, k1+k2, t1/(t1+t2)).
"""
import json
import math
import sys

import numpy as np
import scipy
from scipy import stats

EXACT_MAX_PAIRS = 400


def hodges_lehmann(x, y, level):
    d = np.sort(np.subtract.outer(np.asarray(y, float), np.asarray(x, float)).ravel())
    n = len(x) * len(y)
    z = stats.norm.ppf((1 + level) / 2)
    c = math.floor(n / 2 - z * math.sqrt(n * (len(x) + len(y) + 1) / 12))
    c = min(max(c, 1), n)
    return float(np.median(d)), float(d[c - 1]), float(d[n - c])


def mw_case(name, x, y, level=0.95):
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    ties = len(set(x + y)) < len(x) + len(y)
    exact = not ties and len(x) * len(y) <= EXACT_MAX_PAIRS
    if exact:
        r = stats.mannwhitneyu(x, y, alternative="two-sided", method="exact")
    else:
        r = stats.mannwhitneyu(x, y, alternative="two-sided",
                               method="asymptotic", use_continuity=True)
    shift, low, high = hodges_lehmann(x, y, level)
    return {"name": name, "x": x, "y": y, "level": level, "exact": exact,
            "u": float(r.statistic), "p": float(r.pvalue),
            "shift": shift, "low": low, "high": high}


def mannwhitney_cases(rng):
    cases = [
        # scipy.stats.mannwhitneyu's documented example (Conover): U=17, p=0.1111.
        mw_case("scipy docs males vs females", [19, 22, 16, 29, 24], [20, 11, 17, 12]),
        mw_case("smallest 2x2", [1.5, 2.5], [3.5, 4.5]),
        mw_case("interleaved 3x4", [1, 4, 6], [2, 3, 5, 7]),
    ]
    for n1, n2, shift in [(7, 9, 0.0), (10, 20, 1.0), (20, 20, 0.3), (2, 200, 0.5), (13, 17, -0.8)]:
        x = rng.normal(0, 1, n1)
        y = rng.normal(shift, 1, n2)
        cases.append(mw_case(f"exact normal {n1}x{n2} shift {shift}", x, y))
    for n1, n2, shift in [(30, 30, 0.0), (50, 60, 0.5), (200, 150, 0.2), (21, 20, 1.5)]:
        x = rng.normal(0, 1, n1)
        y = rng.normal(shift, 1, n2)
        cases.append(mw_case(f"asymptotic normal {n1}x{n2} shift {shift}", x, y, 0.9))
    for n1, n2, shift in [(5, 6, 1.0), (40, 35, 0.0), (100, 120, 1.0), (300, 300, 0.3)]:
        # Latencies rounded to whole milliseconds: many ties.
        x = np.round(rng.lognormal(3, 0.4, n1))
        y = np.round(rng.lognormal(3 + 0.1 * shift, 0.4, n2))
        cases.append(mw_case(f"ties rounded lognormal {n1}x{n2}", x, y))
    cases.append(mw_case("ties small integers", [1, 2, 2, 3, 3, 3], [2, 3, 3, 4, 4, 5, 5]))
    cases.append(mw_case("far apart with ties", [1, 1, 2, 2] * 10, [9, 9, 8, 8] * 10, 0.99))
    return cases


def two_proportions_cases():
    cases = []
    for k1, n1, k2, n2 in [(3, 10, 0, 12), (1, 100, 9, 100), (0, 1000, 4, 1000),
                           (2, 2000, 2, 2000), (7, 20, 2, 25), (0, 50, 0, 40),
                           (30, 30, 29, 30), (5, 500, 20, 400), (1, 1, 0, 1),
                           (40, 100, 55, 100), (120, 10000, 160, 10000),
                           (480, 1000, 520, 1000), (12, 60, 3, 70),
                           (3, 1000, 15, 20000), (0, 10, 10, 10), (9, 10, 4, 12)]:
        expected = np.outer([n1, n2], [k1 + k2, n1 + n2 - k1 - k2]) / (n1 + n2)
        table = [[k1, n1 - k1], [k2, n2 - k2]]
        if expected.min() < 5:
            method, p = "fisher", stats.fisher_exact(table).pvalue
        else:
            method = "z"
            p = stats.chi2_contingency(table, correction=False).pvalue
        cases.append({"k1": k1, "n1": n1, "k2": k2, "n2": n2,
                      "method": method, "p": float(p)})
    return cases


def poisson_cases():
    cases = []
    for k1, t1, k2, t2 in [(0, 60.0, 5, 60.0), (10, 3600.0, 25, 3600.0),
                           (3, 120.0, 3, 60.0), (1, 1.0, 0, 1.0),
                           (200, 1000.0, 260, 1200.0), (7, 86400.0, 0, 43200.0),
                           (4000, 1e6, 4400, 1e6), (12, 2.5, 30, 7.5)]:
        r = stats.binomtest(k1, k1 + k2, t1 / (t1 + t2))
        cases.append({"k1": k1, "t1": t1, "k2": k2, "t2": t2, "p": float(r.pvalue)})
    return cases


def main():
    rng = np.random.default_rng(20240611)
    out = {
        "generator": f"scipy_golden.py with scipy {scipy.__version__}, numpy {np.__version__}",
        "mannwhitney": mannwhitney_cases(rng),
        "two_proportions": two_proportions_cases(),
        "poisson_rates": poisson_cases(),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
