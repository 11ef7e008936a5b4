"""The phase boundary of search: how many parameters (or how much compute) does a problem of size n
need, and how does that grow with n?

Per problem size, final exact accuracy against log10 of the scale variable s (non-embedding
parameters N, or training FLOPs C), seeds as replicates, is fitted by binomial likelihood with

    exact = sigmoid((log10 s - m) / w),    log10 s*_q = m + w logit(q)

so s*_50 = 10^m and s*_90 = 10^(m + w ln 9). A crossing outside the grid's range is reported as a
bound (``< min`` / ``> max``), never as an extrapolated number. Then s*_50 against problem size n,
over the sizes whose crossing lies inside the grid, by `analysis.fit.select` (power law s* = A
n^gamma against the saturating law, AICc), with gamma's interval from a nested bootstrap: each
resample redraws the runs of every size, refits every crossing, then the law.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, logit, xlogy

from analysis.fit import fit_form, one_thread, resamples, select

LEVELS = (0.5, 0.9)


def _logistic(x, k, n, start=None):
    """(m, w) of exact = sigmoid((x - m) / w) by binomial likelihood (analytic gradient); None if
    it fails. ``start``: one (m, w) to start from (bootstrap refits), else a small grid."""

    def nll_and_grad(theta):
        w = np.exp(theta[1])
        z = (x - theta[0]) / w
        p = np.clip(expit(z), 1e-12, 1 - 1e-12)
        resid = k - n * p
        value = -float(np.sum(xlogy(k, p) + xlogy(n - k, 1 - p)))
        return value, np.array([np.sum(resid) / w, np.sum(resid * z)])

    grid = [np.array([m0, np.log(w0)]) for m0 in np.quantile(x, [0.2, 0.5, 0.8]) for w0 in (0.1, 0.5)]
    starts = [np.array([start[0], np.log(start[1])])] if start else grid
    best = None
    with one_thread(), np.errstate(all="ignore"):
        for theta0 in starts:
            res = minimize(nll_and_grad, theta0, jac=True, method="L-BFGS-B", bounds=[(None, None), (-7, 3)])
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
    return None if best is None else (float(best.x[0]), float(np.exp(best.x[1])))


def _crossings(m: float, w: float) -> dict[str, float]:
    return {f"{int(100 * q)}": m + w * float(logit(q)) for q in LEVELS}


def crossing(scale, exact, n_eval, groups, n_boot: int = 200, seed: int = 0) -> dict:
    """One problem size: s*_50 and s*_90 (log10 and linear), their 95% intervals over runs, and
    whether each lies inside the grid. ``scale``: parameters (or FLOPs) per run."""
    return _crossing(scale, exact, n_eval, groups, n_boot, seed)[0]


def _crossing(scale, exact, n_eval, groups, n_boot, seed) -> tuple[dict, list[float]]:
    """(the result of `crossing`, the bootstrap draws of log10 s*_50, NaN where a refit failed)."""
    x = np.log10(np.asarray(scale, float))
    exact = np.asarray(exact, float)
    n = np.broadcast_to(np.asarray(n_eval, float), exact.shape)
    k, lo, hi = np.round(exact * n), x.min(), x.max()
    out = {"n_runs": len(x), "grid": [float(10**lo), float(10**hi)], "runs": list(map(str, groups))}
    if len(np.unique(x)) < 2:
        return {**out, **_bounds_only(x, exact, "one scale: no sigmoid to fit")}, []
    if not np.all(np.isfinite(n) & (n > 0)):
        return {**out, **_bounds_only(x, exact, "eval_examples unknown: no binomial fit")}, []
    fitted = _logistic(x, k, n)
    if fitted is None or not np.isfinite(fitted[0]):
        return {**out, **_bounds_only(x, exact, "the sigmoid fit did not converge")}, []
    m, w = fitted
    draws, mids = [], []
    for rows in resamples(len(x), np.asarray(groups), n_boot, seed):
        refit = _logistic(x[rows], k[rows], n[rows], (m, w)) if len(np.unique(x[rows])) >= 2 else None
        mids.append(np.nan if refit is None else refit[0])
        if refit is not None:
            draws.append(_crossings(*refit))
    out |= {"midpoint_log10": m, "width_log10": w, "bootstrap": len(draws)}
    for level, value in _crossings(m, w).items():
        ci = np.percentile([d[level] for d in draws], [2.5, 97.5]).tolist() if draws else None
        out[f"star_{level}"] = _located(value, ci, lo, hi)
    return out, mids


def _located(log_value: float, ci, lo: float, hi: float) -> dict:
    """A crossing as a value with its interval when inside the grid, else as a bound."""
    top, bottom = float(f"{10**hi:.12g}"), float(f"{10**lo:.12g}")  # the grid's own values, not 10^log10
    if log_value > hi:
        return {"status": "above grid", "bound": f"> {top:.4g}", "lower_bound": top}
    if log_value < lo:
        return {"status": "below grid", "bound": f"< {bottom:.4g}", "upper_bound": bottom}
    out = {"status": "inside", "value": float(10**log_value), "log10": log_value}
    if ci:
        out |= {"ci": [float(10 ** ci[0]), float(10 ** ci[1])], "log10_ci": ci}
    return out


def _bounds_only(x, exact, why: str) -> dict:
    """Crossings from the data alone when no sigmoid can be fitted: above every model or below."""
    out = {"reason": why}
    for level in LEVELS:
        if np.all(exact >= level):
            where = _located(x.min() - 1, None, x.min(), x.max())
        elif np.all(exact < level):
            where = _located(x.max() + 1, None, x.min(), x.max())
        else:
            where = {"status": "undetermined", "reason": why}
        out[f"star_{int(100 * level)}"] = where
    return out


def boundary_law(final: pd.DataFrame, scale: str = "params_nonembed", n_boot: int = 200,
                 seed: int = 0) -> dict:  # fmt: skip
    """Per problem size the crossings of ``scale``, then s*_50 against size. ``final``: one row per
    run (its final evaluation) with task_size, exact, eval_examples, run_hash and ``scale``."""
    final = final.dropna(subset=["exact", scale])
    final = final[final[scale] > 0]
    sizes, mids = {}, {}
    for i, (size, group) in enumerate(final.groupby("task_size")):
        sizes[str(size)], mids[size] = _crossing(group[scale], group["exact"], group["eval_examples"],
                                                 group["run_hash"], n_boot, seed + i)  # fmt: skip
    return {"scale": scale, "sizes": sizes, "law": _law(sizes, mids)}


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
