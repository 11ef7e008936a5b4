"""The phase boundary of search: how many parameters (or how much compute) does a problem of size n
need, and how does that grow with n?

Per problem size, the crossing s*_q of final exact accuracy through q = 50% and 90% against log10 of
the scale variable s (non-embedding parameters N, or training FLOPs C), with no shape assumed: the
isotonic (monotone) fit of exact accuracy over every run (`analysis.crossing`), read off where it
reaches q by linear interpolation in log10 s between the two model sizes that bracket it.

A logistic in ln N put N*_50 16-26% high with intervals that missed the truth when the curve was not a
logistic (issue 30). Between two model sizes the data say only that the curve crosses somewhere in
the bracket, so the interval is the bracket's, widened by sampling: the 2.5th percentile of its lower
end and the 97.5th of its upper end over resamples that redraw each model size's runs (seeds). It
carries the misfit of any shape (interpolation error) as well as the noise; the bootstrap spread of
the interpolated crossing alone is ``sampling_ci``. A crossing outside the grid's range is reported
as a bound (``< min`` / ``> max``), never as an extrapolated number.

Then s*_50 against problem size n, over the sizes whose crossing lies inside the grid, by
`analysis.fit.select` (power law s* = A n^gamma against the saturating law, AICc), with gamma's
interval from a nested bootstrap: each resample redraws the runs of every size and draws each
crossing uniformly in log10 s within that resample's bracket (the shape between model sizes is
unknown), then refits the law.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.crossing import brackets, stratified_resamples
from analysis.fit import fit_form, select

LEVELS = (0.5, 0.9)
ESTIMATOR = ("isotonic crossing of final exact accuracy in log10 scale (no shape assumed), interval = the "
             "model sizes that bracket it over resamples of each model size's seeds")  # fmt: skip


def crossing(scale, exact, groups, strata=None, n_boot: int = 200, seed: int = 0) -> dict:
    """One problem size: s*_50 and s*_90 (log10 and linear), their 95% intervals, and whether each
    lies inside the grid. ``scale``: parameters (or FLOPs) per run; ``groups``: one id per run;
    ``strata``: the model size of each run (what a resample keeps fixed; default: the scale)."""
    return crossing_with_draws(scale, exact, groups, strata, n_boot, seed)[0]


def crossing_with_draws(scale, exact, groups, strata, n_boot, seed) -> tuple[dict, np.ndarray]:
    """(the result of `crossing`, per resample a draw of log10 s*_50 within its bracket, NaN where
    the resample's crossing lies outside the grid: what a law across sizes is refitted on)."""
    x, exact = np.log10(np.asarray(scale, float)), np.asarray(exact, float)
    groups = np.asarray(groups)
    strata = x if strata is None else np.asarray(strata)
    lo, hi = x.min(), x.max()
    out = {"n_runs": len(x), "grid": [float(10**lo), float(10**hi)], "runs": list(map(str, groups))}
    if len(np.unique(x)) < 2:
        why = "one model size: a crossing needs two to lie between"
        return {**out, **_bounds_only(x, exact, why)}, np.array([])
    draws = {q: [] for q in LEVELS}  # per level, the (lower, upper) bracket of every resample
    crossed = {q: [] for q in LEVELS}  # per level, every resample's interpolated crossing
    for rows in stratified_resamples(strata, groups, n_boot, seed):
        for q, (below, reached, value) in zip(LEVELS, brackets(x[rows], exact[rows], LEVELS)):
            draws[q].append((below, reached))
            crossed[q].append(value)
    out["bootstrap"] = n_boot
    for q, full in zip(LEVELS, brackets(x, exact, LEVELS)):
        out[f"star_{int(100 * q)}"] = _located(full, draws[q], crossed[q], lo, hi)
    return out, _uniform_in_brackets(draws[0.5], seed)


def _uniform_in_brackets(brackets: list[tuple[float, float]], seed: int) -> np.ndarray:
    """One draw of log10 s*_50 per resample, uniform within its bracket (NaN if the bracket is open)."""
    if not brackets:
        return np.array([])
    below, reached = np.array(brackets).T
    with np.errstate(invalid="ignore"):
        draws = below + np.random.default_rng(seed).random(len(below)) * (reached - below)
    return np.where(np.isfinite(draws), draws, np.nan)


def _grid_value(log_value: float) -> float:
    """A model size of the grid from its log10: its own value (3000), not 10^log10 (3000.0000000000014);
    0 and inf for the ends beyond the grid."""
    return float(f"{10**log_value:.12g}") if np.isfinite(log_value) else float(10**log_value)


def _located(full: tuple[float, float, float], brackets, crossed, lo: float, hi: float) -> dict:
    """A crossing as a value with its interval when inside the grid, else as a bound."""
    below, reached, log_value = full
    top, bottom = _grid_value(hi), _grid_value(lo)
    if not np.isfinite(reached):
        return {"status": "above grid", "bound": f"> {top:.4g}", "lower_bound": top}
    if not np.isfinite(below):
        return {"status": "below grid", "bound": f"< {bottom:.4g}", "upper_bound": bottom}
    out = {"status": "inside", "value": float(10**log_value), "log10": log_value,
           "bracket": [_grid_value(below), _grid_value(reached)]}  # fmt: skip
    ends = np.array(brackets, float).reshape(-1, 2)
    ci = [below, reached]
    if len(ends):  # order statistics, not interpolation: an end may be infinite (outside the grid)
        ci = [min(below, float(np.percentile(ends[:, 0], 2.5, method="lower"))),
              max(reached, float(np.percentile(ends[:, 1], 97.5, method="higher")))]  # fmt: skip
    out |= {"ci": [_grid_value(ci[0]), _grid_value(ci[1])], "log10_ci": ci}
    if len(ends):  # the smallest model size that reaches the level, over resamples
        reached_ci = [
            np.percentile(ends[:, 1], 2.5, method="lower"),
            np.percentile(ends[:, 1], 97.5, method="higher"),
        ]
        out["reached_ci"] = [_grid_value(v) if np.isfinite(v) else float(v) for v in reached_ci]
    finite = np.asarray(crossed, float)
    finite = finite[np.isfinite(finite)]
    out["share_inside"] = float(len(finite) / len(crossed)) if len(crossed) else None
    if len(finite) >= 10:
        out["sampling_ci"] = (10 ** np.percentile(finite, [2.5, 97.5])).tolist()
    return out


def _bounds_only(x, exact, why: str) -> dict:
    """Crossings from the data alone when no sigmoid can be fitted: above every model or below."""
    out = {"reason": why}
    for level in LEVELS:
        if np.all(exact >= level):
            where = _located((-np.inf, x.min(), np.nan), [], [], x.min(), x.max())
        elif np.all(exact < level):
            where = _located((x.max(), np.inf, np.nan), [], [], x.min(), x.max())
        else:
            where = {"status": "undetermined", "reason": why}
        out[f"star_{int(100 * level)}"] = where
    return out


def boundary_law(final: pd.DataFrame, scale: str = "params_nonembed", n_boot: int = 200,
                 seed: int = 0) -> dict:  # fmt: skip
    """Per problem size the crossings of ``scale``, then s*_50 against size. ``final``: one row per
    run (its final evaluation) with task_size, exact, run_hash and ``scale`` (and params_nonembed,
    the model size that resamples keep fixed, when it is there)."""
    final = final.dropna(subset=["exact", scale])
    final = final[final[scale] > 0]
    sizes, mids = {}, {}
    for i, (size, group) in enumerate(final.groupby("task_size")):
        strata = group.get("params_nonembed")
        found = crossing_with_draws(group[scale], group["exact"], group["run_hash"], strata, n_boot, seed + i)
        sizes[str(size)], mids[size] = found
    return {"scale": scale, "estimator": ESTIMATOR, "sizes": sizes, "law": _law(sizes, mids)}


def _law(sizes: dict, mids: dict) -> dict:
    inside = [int(s) for s, c in sizes.items() if c.get("star_50", {}).get("status") == "inside"]
    out = {"sizes_used": inside, "lower_bound_gamma": _gamma_lower_bound(sizes)}
    if len(inside) < 2:
        why = f"{len(inside)} size(s) with s*_50 inside the grid; a law needs 2"
        return {**out, "form": None, "reason": why}
    n = np.array(inside, float)
    star = np.array([sizes[str(s)]["star_50"]["value"] for s in inside])
    if len(inside) == 2:  # two points fix a power law: a slope, without a test of the form
        gamma = float(np.log(star[1] / star[0]) / np.log(n[1] / n[0]))
        out |= {"form": "power", "gamma": gamma, "A": float(star[0] / n[0] ** gamma),
                "note": "two sizes: the slope between them, no test of the form"}  # fmt: skip
    else:
        try:
            chosen = select(n, star, forms=("power", "saturating"))
        except ValueError:  # AICc needs more points than parameters + 1
            chosen = fit_form("power", n, star)
            out["note"] = f"{len(inside)} sizes: too few to choose a form by AICc; power law"
        out |= {"form": chosen.form, "fit": chosen.to_json(), "gamma": -chosen.params["alpha"]}
        if chosen.form == "power":
            out["A"] = chosen.params["A"]
    draws = _gamma_draws(inside, mids)
    if draws:
        out["gamma_ci"] = np.percentile(draws, [2.5, 97.5]).tolist()
        out["bootstrap"] = len(draws)
    return out


def _gamma_draws(inside: list[int], mids: dict) -> list[float]:
    """gamma of the power law refitted on every bootstrap draw of the crossings (runs resampled
    within each size): least squares in log-log, which is the power form's own objective."""
    logn = np.log(np.array(inside, float))
    draws = []
    for row in np.array([mids[s] for s in inside]).T:  # [n_boot, sizes]
        if np.all(np.isfinite(row)):
            draws.append(float(np.polyfit(logn, np.log(10) * row, 1)[0]))
    return draws


def _gamma_lower_bound(sizes: dict) -> float | None:
    """The least gamma consistent with the crossings: from each size inside the grid to each larger
    size whose s*_50 lies above the grid (None if none, or if no bound is positive)."""
    bounds = []
    for a, ca in sizes.items():
        for b, cb in sizes.items():
            sa, sb = ca.get("star_50", {}), cb.get("star_50", {})
            if int(b) > int(a) and sa.get("status") == "inside" and sb.get("status") == "above grid":
                upper = sa.get("ci", [sa["value"]] * 2)[1]  # conservative: the top of a's interval
                bounds.append(np.log(sb["lower_bound"] / upper) / np.log(int(b) / int(a)))
    return float(max(bounds)) if bounds and max(bounds) > 0 else None
