"""Accuracy against loss, one group (task, data condition, problem size) at a time, and how the
threshold moves with the answer.

Pooling every size into one sigmoid hides that each size lies on its own curve. Per group:
`analysis.transitions.fit_transition` of exact accuracy against loss over every evaluation point of
every run. Its threshold L* (the sigmoid's midpoint) is reported only where a transition was found
(better than smooth curves and sharp); a store whose accuracy never moves is refused with the reason.

The metric-artefact test across sizes does not use the sigmoid, whose midpoint on a curve that is not
a logistic depends on the range of losses the runs happened to cover. Under the null exact = P^a with
P ~ exp(-n L), exact accuracy crosses 50% at L_50 = ln 2 / (a n), so L_50 n is the same at every
size. L_50 is read off the isotonic (monotone, shape-free) fit of exact against loss
(`analysis.crossing`), with its interval over resampled runs; the answer length n is the store's
``answer_len``, else the effective length log(answer_prob) / answer_logprob (a lower bound: Jensen).
Constancy: the heterogeneity statistic Q = sum_i (v_i - v_w)^2 / se_i^2 of v = L_50 n (v_w the
inverse-variance mean) against chi^2(k - 1), at ``CONSTANCY_ALPHA``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2

from analysis.crossing import crossing_with_interval
from analysis.fit import fit_form, select
from analysis.groups import add_groups
from analysis.transitions import MIN_DELTA_BIC, SHARP_FRACTION, fit_transition

MIN_RANGE = 0.1  # exact accuracy that moves less than this over a group has no transition to locate
CONSTANCY_ALPHA = 0.01


def size_key(task: str, size, n_tasks: int) -> str:
    """A size's key in fits.json: the size alone when the sweep has one task."""
    return str(size) if n_tasks == 1 else f"{task}/{size}"


def by_group(points: pd.DataFrame):
    """(key, rows) per group, in family then size order (`analysis.groups`)."""
    points = points if "group" in points else add_groups(points)
    for (_, _, key), group in points.groupby(["family", "task_size", "group"], sort=True):
        yield key, group


def transitions_by_size(points: pd.DataFrame, n_boot: int = 200) -> dict:
    """Per group: the transition (its threshold only where one was found, or why not), the 50%
    crossing of exact accuracy against loss, the answer length and its source, the runs."""
    out = {}
    for key, group in by_group(points):
        group = group.dropna(subset=["loss", "exact"])
        entry = {"task": group["task"].iloc[0], "condition": group["condition"].iloc[0],
                 "size": int(group["task_size"].iloc[0]), "n_points": len(group),
                 "runs": sorted(group["run_hash"].unique())}  # fmt: skip
        entry |= answer_length(group)
        entry["transition"] = transition_or_why(group, n_boot)
        entry["crossing_50"] = crossing_with_interval(group["loss"], group["exact"], group["run_hash"], 0.5,
                                                      increasing=False, n_boot=n_boot)  # fmt: skip
        out[key] = entry
    return out


def transition_or_why(group: pd.DataFrame, n_boot: int) -> dict:
    """The sigmoid's threshold where a transition was found; else its statistics and the reason."""
    exact = group["exact"].to_numpy(float)
    if len(exact) and np.ptp(exact) < MIN_RANGE:
        return {"error": f"exact accuracy stays within [{exact.min():.3f}, {exact.max():.3f}] (it moves less "
                         f"than {MIN_RANGE:g}): no transition to locate"}  # fmt: skip
    try:
        fit = fit_transition(group["loss"], group["exact"], n_eval=group["eval_examples"], n_boot=n_boot,
                             groups=group["run_hash"].to_numpy())  # fmt: skip
    except ValueError as err:
        return {"error": str(err)}
    return reported(fit.to_json())


def reported(fit: dict) -> dict:
    """A transition fit as reported: the sigmoid's numbers only when it is a transition."""
    if fit["transition"]:
        return fit
    why = (f"no sharp transition: delta BIC {fit['delta_bic']:.0f} (a transition needs > {MIN_DELTA_BIC:g}), "
           f"10-90% width {fit['sharpness']:.2f} of the loss range (needs < {SHARP_FRACTION:g})")  # fmt: skip
    keep = ("transition", "delta_bic", "sharpness", "n_points", "likelihood", "statistic")
    return {**{k: fit[k] for k in keep}, "reason": why}


def answer_length(group: pd.DataFrame) -> dict:
    if "answer_len" in group and group["answer_len"].notna().any():
        return {"answer_len": float(group["answer_len"].median()), "answer_len_source": "answer_len"}
    if {"answer_prob", "answer_logprob"} <= set(group):
        prob, logprob = group["answer_prob"], group["answer_logprob"]
        mid = group[(prob > 0.05) & (prob < 0.95) & (logprob < 0)]
        if len(mid):
            ratio = np.log(mid["answer_prob"]) / mid["answer_logprob"]
            return {"answer_len": float(ratio.median()),
                    "answer_len_source": "log(answer_prob) / answer_logprob (a lower bound)"}  # fmt: skip
    return {"answer_len": None, "answer_len_source": "none in the store"}


def threshold_vs_length(by_size: dict) -> dict:
    """L_50 n per group with its interval, the constancy test (within one family: a task and a data
    condition), and the power law L_50 = A n^-k (the null says k = 1) when three or more sizes have
    both numbers."""
    rows = []
    for key, entry in by_size.items():
        cross, n = entry.get("crossing_50", {}), entry.get("answer_len")
        if n and np.isfinite(cross.get("value", np.nan)) and "se" in cross:
            lo, hi = cross["ci"]
            rows.append({"size": key, "n": n, "L50": cross["value"], "L50n": cross["value"] * n,
                         "L50n_ci": [lo * n, hi * n], "L50n_se": cross["se"] * n,
                         "family": (entry.get("task"), entry.get("condition"))})  # fmt: skip
    out = {"per_size": [{k: v for k, v in r.items() if k != "family"} for r in rows],
           "alpha": CONSTANCY_ALPHA}  # fmt: skip
    if len({r["family"] for r in rows}) > 1:
        return {
            **out,
            "verdict": "undetermined",
            "reason": "groups from more than one task or data condition",
        }
    if len(rows) < 2:
        why = f"{len(rows)} size(s) whose exact accuracy crosses 50% with an interval and an answer length"
        return {**out, "verdict": "undetermined", "reason": why}
    out |= constancy(np.array([r["L50n"] for r in rows]), np.array([r["L50n_se"] for r in rows]))
    n, thr = np.array([r["n"] for r in rows]), np.array([r["L50"] for r in rows])
    if len(rows) >= 3 and np.all(thr > 0) and len(np.unique(n)) >= 3:
        fit = fit_form("power", n, thr)
        out["power_law"] = {"A": fit.params["A"], "k": fit.params["alpha"], "null_k": 1.0}
    return out


def constancy(values: np.ndarray, se: np.ndarray) -> dict:
    """Heterogeneity of ``values`` given their standard errors: Q, its p-value and the verdict."""
    se = np.maximum(se, 1e-12)
    weights = 1 / se**2
    mean = float(np.sum(weights * values) / np.sum(weights))
    q = float(np.sum((values - mean) ** 2 * weights))
    p_value = float(chi2.sf(q, len(values) - 1))
    verdict = (
        "not constant" if p_value < CONSTANCY_ALPHA else "consistent with a constant (1/n, the artefact null)"
    )
    return {"verdict": verdict, "Q": q, "p_value": p_value, "weighted_mean": mean}


def frontier_by_size(points: pd.DataFrame) -> dict:
    """Per size, the loss-vs-compute frontier over every evaluation point of every run (the least
    loss reached at or below each compute) and its law: `select` among the power and saturating
    forms (a power law alone on 3 frontier points; nothing below 3)."""
    out = {}
    for key, group in by_group(points.dropna(subset=["loss", "flops"])):
        group = group[(group["flops"] > 0) & (group["loss"] > 0)].sort_values("flops")
        best = group["loss"].cummin()
        edge = group[group["loss"] <= best]  # points that set a new least loss
        edge = edge[~edge["loss"].duplicated()]
        entry = {"frontier": list(zip(edge["flops"].tolist(), edge["loss"].tolist())),
                 "runs": sorted(edge["run_hash"].unique())}  # fmt: skip
        x, y = edge["flops"].to_numpy(float), edge["loss"].to_numpy(float)
        try:
            entry["fit"] = (
                select(x, y, forms=("power", "saturating")) if len(x) >= 4 else fit_form("power", x, y)
            ).to_json()
        except ValueError as err:
            entry["fit"] = {"form": None, "reason": str(err)}
        out[key] = entry
    return out
