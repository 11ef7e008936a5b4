"""Accuracy against loss, one problem size at a time, and how the threshold moves with the answer.

Pooling every size into one sigmoid hides that each size lies on its own curve. Per (task, size):
`analysis.transitions.fit_transition` of exact accuracy against loss over every evaluation point of
every run, its interval from resampling whole runs. L* is the sigmoid's midpoint between its floor
and ceiling (not a fixed accuracy level: a size whose accuracy tops out below 50% still has one).
Under the metric-artefact null exact ~ exp(-n L) crosses a fixed level at L ~ 1/n, so L* n should
stay constant across sizes; the answer length n is the store's ``answer_len`` (answer tokens per
example), else the effective length log(answer_prob) / answer_logprob (a lower bound on n: Jensen)
near the middle of the curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.fit import fit_form, select
from analysis.transitions import fit_transition


def size_key(task: str, size, n_tasks: int) -> str:
    """A size's key in fits.json: the size alone when the sweep has one task."""
    return str(size) if n_tasks == 1 else f"{task}/{size}"


def transitions_by_size(points: pd.DataFrame, n_boot: int = 200) -> dict:
    """Per size: the transition fit (or why not), the answer length and its source, the runs."""
    out = {}
    for (task, size), group in points.groupby(["task", "task_size"]):
        group = group.dropna(subset=["loss", "exact"])
        entry = {"n_points": len(group), "runs": sorted(group["run_hash"].unique())}
        entry |= answer_length(group)
        try:
            fit = fit_transition(group["loss"], group["exact"], n_eval=group["eval_examples"], n_boot=n_boot,
                                 groups=group["run_hash"].to_numpy())  # fmt: skip
            entry["transition"] = fit.to_json()
        except ValueError as err:
            entry["transition"] = {"error": str(err)}
        out[size_key(task, size, points["task"].nunique())] = entry
    return out


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
    """L* n per size with its interval, whether one constant fits every interval, and the power law
    L* = A n^-k (the null says k = 1) when three or more sizes have both numbers."""
    rows = []
    for key, entry in by_size.items():
        tr, n = entry.get("transition", {}), entry.get("answer_len")
        if "threshold" in tr and n:
            lo, hi = tr.get("threshold_ci") or (np.nan, np.nan)
            rows.append({"size": key, "n": n, "L*": tr["threshold"], "L*n": tr["threshold"] * n,
                         "L*n_ci": [lo * n, hi * n]})  # fmt: skip
    out = {"per_size": rows}
    if len(rows) < 2:
        why = f"{len(rows)} size(s) with both a threshold and an answer length"
        return {**out, "verdict": "undetermined", "reason": why}
    with_ci = [r for r in rows if np.all(np.isfinite(r["L*n_ci"]))]
    if len(with_ci) == len(rows):
        common = max(r["L*n_ci"][0] for r in rows) <= min(r["L*n_ci"][1] for r in rows)
        out["verdict"] = "constant (1/n, as the artefact null predicts)" if common else "not constant"
    else:
        out["verdict"] = "undetermined"
    n, thr = np.array([r["n"] for r in rows]), np.array([r["L*"] for r in rows])
    if len(rows) >= 3 and np.all(thr > 0) and len(np.unique(n)) >= 3:
        fit = fit_form("power", n, thr)
        out["power_law"] = {"A": fit.params["A"], "k": fit.params["alpha"], "null_k": 1.0}
    return out


def frontier_by_size(points: pd.DataFrame) -> dict:
    """Per size, the loss-vs-compute frontier over every evaluation point of every run (the least
    loss reached at or below each compute) and its law: `select` among the power and saturating
    forms (a power law alone on 3 frontier points; nothing below 3)."""
    out = {}
    for (task, size), group in points.dropna(subset=["loss", "flops"]).groupby(["task", "task_size"]):
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
        out[size_key(task, size, points["task"].nunique())] = entry
    return out
