"""Fits that converged to numbers that do not describe the data: flagged, kept out of the results and
listed under what could not be fitted (issue 30). A fit is degenerate when

- an interval of a positive parameter spans more than `MAX_DECADES` orders of magnitude (the data
  do not fix it: ``A 5.2e10 [5.7e6, 6.3e19]``), or an interval was asked for and is not finite;
- its curve misses its own data: the median |log10(prediction / value)| over the fitted points is
  above `MAX_LOG10_MISS` (a power law orders of magnitude off its frontier).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_DECADES = 3.0
MAX_LOG10_MISS = 0.3  # a factor of 2


def predict(form: str, params: dict, x: np.ndarray) -> np.ndarray | None:
    if form == "power":
        return params["A"] * x ** -params["alpha"]
    if form == "saturating":
        return params["E"] + params["A"] * x ** -params["alpha"]
    return None


def why_degenerate(fit: dict, x, y, intervals_expected: bool) -> str | None:
    """The reason ``fit`` (a `FitResult.to_json`) is degenerate on its data (x, y), or None."""
    if not fit.get("params"):
        return None
    for name, value in fit["params"].items():
        ci = fit.get("ci", {}).get(name)
        if intervals_expected and (ci is None or not np.all(np.isfinite(ci))):
            return f"no finite interval for {name}"
        if ci is not None and value > 0 and np.all(np.isfinite(ci)) and min(ci) > 0:
            decades = np.log10(max(ci) / min(ci))
            if decades > MAX_DECADES:
                return (
                    f"{name} = {value:.3g} [{ci[0]:.3g}, {ci[1]:.3g}] spans {decades:.0f} orders of magnitude"
                )
    x, y = np.asarray(x, float), np.asarray(y, float)
    pred = predict(fit["form"], fit["params"], x)
    keep = (y > 0) & np.isfinite(y)
    if pred is not None and keep.any():
        with np.errstate(all="ignore"):
            miss = np.abs(np.log10(pred[keep] / y[keep]))
        miss = np.where(np.isfinite(miss), miss, np.inf)
        if np.median(miss) > MAX_LOG10_MISS:
            return f"the curve misses its data by a median factor of {10 ** min(np.median(miss), 99):.3g}"
    return None


def degenerate_fits(fits: dict, final: pd.DataFrame, points: pd.DataFrame) -> dict:
    """{what: why} for every degenerate law of the report; each such fit is marked ``degenerate``."""
    out = {}
    for key, fit in fits.get("loss_vs_params", {}).items():
        rows = final[final["run_hash"].isin(fit.get("runs", []))]
        why = why_degenerate(
            fit, rows["params_nonembed"], rows["loss"], intervals_expected=fits["bootstrap"] > 0
        )
        if why:
            fit["degenerate"] = out[f"loss vs params (size {key})"] = why
    for key, entry in fits.get("loss_vs_compute", {}).items():
        fit = entry.get("fit") or {}
        if entry.get("frontier") and fit.get("params"):
            fx, fy = zip(*entry["frontier"])
            why = why_degenerate(fit, fx, fy, intervals_expected=False)
            if why:
                fit["degenerate"] = out[f"loss-compute frontier (size {key})"] = why
    return out
