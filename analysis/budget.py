"""Compute-to-target and budget-limited cells, from the store's tables (pandas only).

- `compute_to_target`: per run, the first evaluation at which the held-out metric reaches a target
  (>= for accuracies, <= for losses), as step, tokens and FLOPs; a run that never reaches it is
  censored at its last evaluation (``reached`` False, the compute columns NaN).
- `cell_compute_to_target`: per cell (task, size, model by default), the median over its runs
  (seeds), counting a censored run as never (+inf): the median is a number only when more than
  half of the runs reached the target, else NaN with ``censored`` True.
- `budget_limited`: per cell, whether any run ended on ``budget`` (its last step, neither target nor
  plateau: `search_scaling.training.stop`): such a cell says what the budget bought, not where
  training would have ended, and a boundary drawn through it is a lower bound on what it would need.

Runs recorded before stop rules existed have no ``stop_reason`` (null, or no column at all): they
count as unknown, never as budget-limited.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CELL = ("task", "task_size", "model")
COMPUTE = ("step", "tokens", "flops")


def higher_is_better(metric: str) -> bool:
    """Losses go down, every other held-out metric up (as `search_scaling.training.stop` has it;
    repeated here because `analysis` imports nothing that pulls in torch)."""
    return not (metric == "loss" or metric.endswith("_loss"))


def compute_to_target(curves: pd.DataFrame, target: float, metric: str = "exact", split: str = "eval",
                      keys: tuple[str, ...] = ()) -> pd.DataFrame:  # fmt: skip
    """One row per run: ``run_hash``, ``keys`` (columns carried from the curves, e.g. `CELL`),
    ``reached`` and the step, tokens and FLOPs of the first evaluation after step 0 whose value
    reaches ``target`` (NaN where none does), with ``last_step`` (where a censored run ends)."""
    rows = curves[(curves["split"] == split) & (curves["metric"] == metric) & (curves["step"] > 0)]
    rows = rows.sort_values(["run_hash", "step"], kind="stable")
    hit = rows["value"] >= target if higher_is_better(metric) else rows["value"] <= target
    rows = rows.assign(_hit=hit.to_numpy())  # NaN values never reach a target
    out = []
    for run_hash, group in rows.groupby("run_hash", sort=True):
        first = group[group["_hit"]].head(1)
        record = {"run_hash": run_hash, **{k: group[k].iloc[0] for k in keys}, "reached": not first.empty,
                  "last_step": int(group["step"].max())}  # fmt: skip
        record.update({c: (first[c].iloc[0] if not first.empty else np.nan) for c in COMPUTE})
        out.append(record)
    columns = ["run_hash", *keys, "reached", *COMPUTE, "last_step"]
    return pd.DataFrame(out, columns=columns)


def cell_compute_to_target(curves: pd.DataFrame, target: float, metric: str = "exact", split: str = "eval",
                           by: tuple[str, ...] = CELL) -> pd.DataFrame:  # fmt: skip
    """One row per cell (``by``): ``runs``, ``reached`` (how many), the median step, tokens and FLOPs
    to target with censored runs as +inf, and ``censored`` (the median is unknown: NaN)."""
    per_run = compute_to_target(curves, target, metric, split, keys=by)
    out = []
    for key, group in per_run.groupby(list(by), sort=True):
        record = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        record.update(runs=len(group), reached=int(group["reached"].sum()))
        for c in COMPUTE:
            median = float(np.median(group[c].fillna(np.inf)))
            record[c] = median if np.isfinite(median) else np.nan
        record["censored"] = bool(np.isnan(record["step"]))
        out.append(record)
    return pd.DataFrame(out, columns=[*by, "runs", "reached", *COMPUTE, "censored"])


def budget_limited(runs: pd.DataFrame, by: tuple[str, ...] = CELL) -> pd.DataFrame:
    """One row per cell (``by``) of the runs table: ``runs``, ``budget`` (runs that ended on their
    last step), ``unknown`` (no stop_reason: older stores, unfinished runs) and ``budget_limited``
    (any run ended on budget)."""
    unknown = pd.Series(None, index=runs.index, dtype=object)
    reasons = runs.get("stop_reason", unknown)  # no column: a store from before stop rules
    frame = runs[list(by)].assign(_budget=reasons.eq("budget"), _unknown=reasons.isna())
    cells = frame.groupby(list(by), sort=True).agg(
        runs=("_budget", "size"), budget=("_budget", "sum"), unknown=("_unknown", "sum")
    )
    cells["budget_limited"] = cells["budget"] > 0
    return cells.reset_index()
