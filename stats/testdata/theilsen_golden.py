#!/usr/bin/python3
"""Generates theilsen_golden.json: scipy's Theil-Sen lines and Kendall taus
for stats/theilsen_test.go and stats/kendall_test.go to check against.

Run from stats/testdata with a python3 that has scipy (Debian:
apt-get install python3-scipy; /usr/bin/python3 theilsen_golden.py).
The data sets are fixed by a seed, so the file only changes with scipy.
"""
import json

import numpy as np
import scipy
from scipy import stats


def datasets():
    rng = np.random.RandomState(19)
    days = np.arange(10) * 7.0
    yield "weekly_rising_p95", days, 1.0 + 0.05 * days * (1 + rng.uniform(-0.02, 0.02, 10))
    yield "small_n5", np.array([0.0, 1, 2, 3, 4]), np.array([1.0, 1.2, 1.1, 1.6, 1.5])
    yield "ties_in_x_and_y", np.array([0.0, 0, 1, 2, 2, 2, 3, 5, 8, 8, 9, 12]), \
        np.array([3.0, 3, 4, 4, 5, 3, 6, 6, 7, 9, 9, 8])
    yield "outlier", np.arange(15.0), np.concatenate([2.0 + 0.3 * np.arange(14.0), [100.0]])
    yield "falling_n25", np.sort(rng.uniform(0, 60, 25)), 0.999 - 0.0004 * np.arange(25) + rng.normal(0, 0.002, 25)
    yield "flat_noise_n30", np.arange(30.0) * 0.5, rng.normal(10, 1, 30).round(1)


def brute_s(x, y):
    n = len(x)
    return float(sum(np.sign(x[j] - x[i]) * np.sign(y[j] - y[i]) for i in range(n) for j in range(i + 1, n)))


def main():
    out = {"generator": "scipy " + scipy.__version__ + ", numpy " + np.__version__, "cases": []}
    for name, x, y in datasets():
        case = {"name": name, "x": x.tolist(), "y": y.tolist(), "fits": []}
        for level in (0.90, 0.95):
            r = stats.theilslopes(y, x, alpha=level, method="separate")
            case["fits"].append({"level": level, "slope": r[0], "intercept": r[1], "low_slope": r[2], "high_slope": r[3]})
        kt = stats.kendalltau(x, y, variant="b", method="asymptotic")
        case["kendall"] = {"tau_b": kt[0], "p_asymptotic": kt[1], "s": brute_s(x, y)}
        out["cases"].append(case)
    with open("theilsen_golden.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
