"""The paired t-test on per-seed differences: does one row beat another beyond the seed-to-seed spread?

Two rows trained at the same seeds share their initialisation draw and shuffling order, so their
difference seed by seed removes the part of the spread both rows have; the test asks whether the mean
of those n differences is distinguishable from 0. Pure Python and scipy (exact t quantiles and p), no
TensorFlow.
"""

import math
import statistics

from scipy import stats

CONFIDENCE = 0.95


def paired_t_test(differences: list) -> dict:
    """The two-sided one-sample t-test of `differences` against 0, with its 95% confidence interval.

    Args:
      differences: n numbers, one per seed (row A - row B at that seed).

    Returns:
      {"n", "mean", "std" (sample, n - 1), "t", "p" (two-sided), "ci95": [low, high], "note"}. Degenerate
      cases are said in "note" rather than guessed: n = 0 gives every value None; n = 1 gives the mean
      only (no spread, so no test); zero spread (every difference the same) gives t None, the interval
      [mean, mean] and p = 0 for a mean other than 0 (every seed moved the same way by the same amount),
      p = 1 for a mean of 0.
    """
    n = len(differences)
    result = {"n": n, "mean": None, "std": None, "t": None, "p": None, "ci95": None, "note": None}
    if n == 0:
        return {**result, "note": "no paired values"}
    mean = statistics.fmean(differences)
    if n == 1:
        return {**result, "mean": mean, "note": "n = 1: no spread, no test"}
    std = statistics.stdev(differences)  # exact arithmetic: identical values give exactly 0
    if std == 0:
        p = 0.0 if mean != 0 else 1.0
        return {**result, "mean": mean, "std": 0.0, "p": p, "ci95": [mean, mean],
                "note": f"zero variance: every seed gives the same difference, so p = {p:g} without a t"}
    error = std / math.sqrt(n)
    t = mean / error
    degrees = n - 1
    half_width = float(stats.t.ppf(0.5 + CONFIDENCE / 2, degrees)) * error
    return {**result, "mean": mean, "std": std, "t": t, "p": float(2 * stats.t.sf(abs(t), degrees)),
            "ci95": [mean - half_width, mean + half_width]}
