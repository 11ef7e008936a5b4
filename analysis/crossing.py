"""Where a monotone curve crosses a level, without assuming its shape: isotonic regression (pool
adjacent violators) of y on x, then linear interpolation between the fitted points that bracket the
level. Intervals resample whole runs (a run's points share one evaluation set, a seed's models share
one initialisation draw), so they carry the spread between runs, not only binomial noise.
"""

from __future__ import annotations

import numpy as np

from analysis.fit import resamples


def isotonic(x, y, w=None, increasing: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(distinct x sorted, the weighted least-squares monotone fit at them): pool adjacent violators."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = np.ones_like(y) if w is None else np.asarray(w, float)
    xs, inverse = np.unique(x, return_inverse=True)
    wsum = np.bincount(inverse, w)
    ysum = np.bincount(inverse, w * y) / wsum
    sign = 1.0 if increasing else -1.0
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value, weight in zip(sign * ysum, wsum):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    fitted = np.concatenate([[v] * int(c) for v, _, c in blocks])
    return xs, sign * fitted


def level_bracket(x, y, level: float, increasing: bool = True) -> tuple[float, float, float]:
    """(the last x whose monotone fit is short of ``level``, the first x whose fit reaches it, the
    linear interpolation between them), in reading order (low to high x for an increasing curve,
    high to low for a decreasing one). The first is -inf (increasing; +inf decreasing) when the fit
    starts at the level, the second +inf (-inf) when it never reaches it; the crossing is then NaN.
    Without a shape assumed, the bracket is all the data say: the curve may cross anywhere in it."""
    return brackets(x, y, (level,), increasing)[0]


def brackets(x, y, levels, increasing: bool = True) -> list[tuple[float, float, float]]:
    """`level_bracket` for each of ``levels``, from one monotone fit."""
    xs, fitted = isotonic(x, y, increasing=increasing)
    if not increasing:  # read a decreasing curve from its high-x end: reverse x
        xs, fitted = xs[::-1], fitted[::-1]
    start, never = (-np.inf, np.inf) if increasing else (np.inf, -np.inf)
    out = []
    for level in levels:
        above = np.flatnonzero(fitted >= level)
        if len(above) == 0:
            out.append((float(xs[-1]), never, float("nan")))
        elif above[0] == 0:
            out.append((start, float(xs[0]), float("nan")))
        else:
            i = above[0]
            x0, x1, y0, y1 = xs[i - 1], xs[i], fitted[i - 1], fitted[i]
            out.append((float(x0), float(x1), float(x0 + (level - y0) / (y1 - y0) * (x1 - x0))))
    return out


def level_crossing(x, y, level: float, increasing: bool = True) -> float:
    """The x at which the monotone fit of y first reaches ``level`` (NaN if it never does, or starts
    beyond it: the crossing lies outside the data)."""
    return level_bracket(x, y, level, increasing)[2]


def crossing_with_interval(x, y, groups, level: float, increasing: bool = True, n_boot: int = 200,
                           seed: int = 0) -> dict:  # fmt: skip
    """The crossing, a 95% percentile interval over resampled runs, the share of resamples that cross
    inside the data, and the bootstrap standard error."""
    x, y, groups = np.asarray(x, float), np.asarray(y, float), np.asarray(groups)
    value = level_crossing(x, y, level, increasing)
    draws = np.array(
        [level_crossing(x[r], y[r], level, increasing) for r in resamples(len(x), groups, n_boot, seed)]
    )
    finite = draws[np.isfinite(draws)]
    out = {"value": value, "level": level, "bootstrap": int(len(draws)),
           "share_crossing": float(len(finite) / len(draws)) if len(draws) else None}  # fmt: skip
    if len(finite) >= 10:
        out["ci"] = np.percentile(finite, [2.5, 97.5]).tolist()
        out["se"] = float(np.std(finite, ddof=1))
    return out


def stratified_resamples(strata, groups, n_boot: int, seed: int = 0):
    """Row indices of ``n_boot`` resamples that redraw whole groups (runs) within each stratum (a
    model size of the grid): the design stays as it was run, the seeds at each point vary. Resampling
    runs across strata would drop whole model sizes from some resamples and widen every bracket."""
    strata, groups = np.asarray(strata), np.asarray(groups)
    members = []  # per stratum, the rows of each of its groups
    for stratum in np.unique(strata):
        inside = strata == stratum
        members.append([np.flatnonzero(inside & (groups == g)) for g in np.unique(groups[inside])])
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield np.concatenate([rows[i] for rows in members for i in rng.integers(0, len(rows), len(rows))])
