"""Intervals over a handful of runs (seeds): the goals section (`analysis.goals`) and the
equal-parameter comparison (`analysis.equal_params`).

With three seeds a percentile bootstrap of the mean covers the truth far less than 95% (0.73 in a
planted case, tests/unit/analysis/test_goals_stats.py) and is zero-wide when the seeds agree. Here a
share's interval is the Student t interval of the mean over
runs (mean +- t(0.975, n-1) * s / sqrt(n), clipped to [0, 1]) joined with a Wilson 95% interval on
the runs' pooled episodes (the mean times the episodes scored): the wider end of each side, so seeds
that agree still carry the sampling noise of the episodes they were scored on. A difference between
two groups of seeds gets Welch's t interval (`welch_interval`).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

LEVEL = 0.95
Z = float(stats.norm.ppf(0.5 + LEVEL / 2))


def wilson(share: float, n: float) -> list[float]:
    """The Wilson score interval of a proportion ``share`` observed on ``n`` trials (n > 0; a
    non-integer n, a pooled count of episodes, is allowed)."""
    centre = (share + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * np.sqrt(share * (1 - share) / n + Z**2 / (4 * n**2))
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


def t_interval(values: np.ndarray) -> list[float] | None:
    """Mean +- t(0.975, n-1) * s / sqrt(n) over runs; None from fewer than two runs."""
    if values.size < 2:
        return None
    half = float(stats.t.ppf(0.5 + LEVEL / 2, values.size - 1)) * values.std(ddof=1) / np.sqrt(values.size)
    return [float(values.mean() - half), float(values.mean() + half)]


def mean_ci(values, seeds, episodes=None, share: bool = True) -> dict:
    """The mean over runs of ``values`` (one per run, aligned with ``seeds``; a NaN drops that run
    from both), its 95% interval over runs and the per-run values.

    ``share``: the values are proportions, so the interval is clipped to [0, 1] and, given
    ``episodes`` (the episodes each run's share is of, aligned with ``values``; None where unknown),
    widened to the Wilson interval on the pooled episodes. A difference of shares passes
    ``share=False``: a bare t interval. No interval from a single run (nothing to say about seeds)."""
    v = np.asarray(values, float)
    keep = ~np.isnan(v)
    kept_seeds = [s for s, k in zip(seeds, keep) if k]
    v = v[keep]
    out = {"mean": None, "ci": None, "values": v.tolist(), "seeds": kept_seeds, "n": int(v.size)}
    if not v.size:
        return out
    out["mean"] = mean = float(v.mean())
    ci = t_interval(v)
    if ci is None or not share:
        out["ci"] = ci
        return out
    ci = [max(0.0, ci[0]), min(1.0, ci[1])]
    if episodes is not None:  # None or NaN where a run's episode count is unknown
        n = np.asarray(episodes, float)[keep]
        if np.isfinite(n).all() and n.sum() > 0:
            floor = wilson(min(max(mean, 0.0), 1.0), float(n.sum()))
            ci = [min(ci[0], floor[0]), max(ci[1], floor[1])]
    out["ci"] = ci
    return out


def welch_interval(a: np.ndarray, b: np.ndarray) -> list[float] | None:
    """Interval for mean(a) - mean(b) with unequal variances (Welch-Satterthwaite degrees of
    freedom); None below two runs a side (one run has no spread)."""
    if min(a.size, b.size) < 2:
        return None
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(np.sqrt(va + vb))
    if se == 0.0:  # identical seeds on both sides: no spread to widen the difference
        return [diff, diff]
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, dof)) * se
    return [diff - half, diff + half]
