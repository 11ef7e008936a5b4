"""Where search capacity lives: the depth a maze size needs, at each width (issue 29).

Per group (task, data condition, maze size) and width (d_model): final exact accuracy against depth
(n_layers), its crossings of 50% and 90% by `analysis.boundary.crossing_with_draws` (a monotone fit
in log depth, no shape assumed; the interval spans the depths either side over resampled seeds). The
*smallest depth* that reaches a level is the first depth of the grid whose monotone fit reaches it,
with the range of that depth over the resamples; L*_q is the interpolated crossing.

The layers-needed law, per width over the sizes whose L*_50 lies inside the grid (three or more):

    power:  L*_50 = A n^k          log:  L*_50 = a + b ln n

both fitted by least squares on log L*_50 (as every law of the report), chosen by AICc. Both have two
parameters, so AICc's small-sample correction is the same for both and the choice is that of the
residuals; with three sizes the correction is undefined and the difference of AIC is used (said so).
The slope's interval (k, or b) refits the chosen form on every resample, each size's L*_50 drawn
within its resampled bracket.

A model's shape comes from the runs table's ``n_layers`` and ``d_model``, else from its name
``L<layers>-D<d_model>`` (`search_scaling.models.config.model_shape`; no import: this package never
imports torch).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from analysis.boundary import crossing_with_draws

SHAPE_NAME = re.compile(r"^L(\d+)-D(\d+)$")
LEVELS = ("50", "90")


def with_shape(final: pd.DataFrame, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """``final`` with integer ``n_layers`` and ``d_model`` per run: from the runs table where it has
    them, else parsed from the model name (NaN where neither says)."""
    final = final.drop(columns=["n_layers", "d_model"], errors="ignore")
    if runs is not None and {"n_layers", "d_model"} <= set(runs):
        final = final.merge(runs[["run_hash", "n_layers", "d_model"]], on="run_hash", how="left")
    else:
        final = final.assign(n_layers=np.nan, d_model=np.nan)
    parsed = final["model"].astype(str).str.extract(SHAPE_NAME).astype(float)
    final["n_layers"] = final["n_layers"].astype(float).fillna(parsed[0])
    final["d_model"] = final["d_model"].astype(float).fillna(parsed[1])
    return final


def varies_depth(final: pd.DataFrame) -> bool:
    """Whether some group and width has two depths or more: else there is no depth question."""
    shaped = final.dropna(subset=["n_layers", "d_model"])
    return bool(len(shaped)) and shaped.groupby(["group", "d_model"])["n_layers"].nunique().max() >= 2


def depth_needed(final: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> dict:
    """``groups``: per group and width (those run at two depths or more), the crossings in depth and
    the smallest depths; ``laws``: per family and width, the layers-needed law (or why not);
    ``widths_with_one_depth``: per group, the widths left out."""
    final = final.dropna(subset=["n_layers", "d_model", "exact"])
    groups, draws, one_depth = {}, {}, {}
    for i, ((family, size, group, width), rows) in enumerate(
        final.groupby(["family", "task_size", "group", "d_model"], sort=True)
    ):
        if rows["n_layers"].nunique() < 2:  # a width run at one depth says nothing about depth
            one_depth.setdefault(group, []).append(int(width))
            continue
        entry, mids = _one_width(rows, n_boot, seed + i)
        groups.setdefault(group, {})[str(int(width))] = entry
        draws.setdefault((family, int(width)), {})[int(size)] = (entry, mids)
    laws = {}
    for (family, width), sizes in sorted(draws.items()):
        laws.setdefault(family or "all", {})[str(width)] = layers_law(sizes)
    return {"groups": groups, "laws": laws, "widths_with_one_depth": one_depth}


def _one_width(rows: pd.DataFrame, n_boot: int, seed: int) -> tuple[dict, np.ndarray]:
    found, mids = crossing_with_draws(rows["n_layers"], rows["exact"], rows["run_hash"], rows["n_layers"],
                                      n_boot, seed)  # fmt: skip
    depths = sorted(int(d) for d in rows["n_layers"].unique())
    entry = {"depths": depths, "n_runs": len(rows), "runs": sorted(rows["run_hash"])}
    for level in LEVELS:
        star = found.get(f"star_{level}", {})
        entry[f"star_{level}"] = star
        entry[f"smallest_{level}"] = smallest_depth(star, depths)
    if found.get("reason"):
        entry["reason"] = found["reason"]
    return entry, mids


def smallest_depth(star: dict, depths: list[int]) -> dict:
    """The first depth of the grid whose monotone fit reaches the level, with its range over resamples
    (``ci``), or a bound: ``> max`` when no depth reaches it."""
    if star.get("status") == "inside":
        out = {"depth": int(round(star["bracket"][1]))}
        ci = star.get("reached_ci")
        if ci and all(np.isfinite(ci)):
            out["ci"] = [int(round(v)) for v in ci]
        elif ci:
            out["ci"] = [int(round(ci[0])) if np.isfinite(ci[0]) else None, None]  # None: beyond the grid
        return out
    if star.get("status") == "below grid":
        return {"depth": depths[0], "bound": f"<= {depths[0]}"}
    if star.get("status") == "above grid":
        return {"depth": None, "bound": f"> {depths[-1]}"}
    return {"depth": None, "bound": "undetermined"}


def _fit_power(n, y) -> tuple[dict, float]:
    k, log_a = np.polyfit(np.log(n), np.log(y), 1)
    rss = float(np.sum((np.log(y) - log_a - k * np.log(n)) ** 2))
    return {"A": float(np.exp(log_a)), "k": float(k)}, rss


def _fit_log(n, y) -> tuple[dict, float] | None:
    b0, a0 = np.polyfit(np.log(n), y, 1)  # linear least squares in y: the start

    def residuals(theta):
        pred = theta[0] + theta[1] * np.log(n)
        return np.log(np.maximum(pred, 1e-12)) - np.log(y)

    res = least_squares(residuals, [a0, b0])
    if not np.all(res.x[0] + res.x[1] * np.log(n) > 0):
        return None
    return {"a": float(res.x[0]), "b": float(res.x[1])}, float(np.sum(res.fun**2))


FORMS = {"power": (_fit_power, "k"), "log": (_fit_log, "b")}


def _criterion(rss: float, m: int, k: int = 2) -> float:
    aic = m * np.log(max(rss, 1e-300) / m) + 2 * k
    return aic + 2 * k * (k + 1) / (m - k - 1) if m - k - 1 > 0 else aic


def layers_law(sizes: dict[int, tuple[dict, np.ndarray]]) -> dict:
    """L*_50 against maze size n over the sizes whose crossing lies inside the depth grid: the form
    chosen by AICc (see the module), its parameters, and its slope's bootstrap interval."""
    inside = sorted(n for n, (e, _) in sizes.items() if e["star_50"].get("status") == "inside")
    out = {"sizes_used": inside}
    if len(inside) < 3:
        return {
            **out,
            "form": None,
            "reason": f"{len(inside)} size(s) with L*_50 inside the depth grid; the law needs 3",
        }
    n = np.array(inside, float)
    y = np.array([sizes[s][0]["star_50"]["value"] for s in inside])
    fits = {name: fit(n, y) for name, (fit, _) in FORMS.items()}
    scores = {name: _criterion(f[1], len(n)) for name, f in fits.items() if f is not None}
    chosen = min(scores, key=scores.get)
    out |= {"form": chosen, "params": fits[chosen][0], "criterion": "AICc" if len(n) > 3 else "AIC (3 sizes: "
            "AICc's correction is undefined, and the same for both forms)",
            "scores": scores, "delta": {k: v - scores[chosen] for k, v in scores.items()}}  # fmt: skip
    slope = FORMS[chosen][1]
    rows = np.array([sizes[s][1] for s in inside]).T  # [resamples, sizes] of log10 L*_50
    draws = [f[0][slope] for r in rows if np.all(np.isfinite(r)) and (f := FORMS[chosen][0](n, 10**r))]
    if len(draws) >= 10:
        out[f"{slope}_ci"] = np.percentile(draws, [2.5, 97.5]).tolist()
        out["bootstrap"] = len(draws)
    return out
