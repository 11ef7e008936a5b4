"""Laptop-scale reproductions of two published learned-search results (issue 19).

    .venv/bin/python benchmarks/search_tasks_repro.py                    # both, as the specs say
    .venv/bin/python benchmarks/search_tasks_repro.py --part path_star --steps 20 --tag tiny   # a check

- **path_star** (Bachmann & Nagarajan 2024): the cells of ``sweeps/path_star.yaml``, G(d, 5) for
  d = 2..5, answer forward (source to goal) or reversed. Expected: forward, the first move stays
  near chance 1/d while the later tokens are right under teacher forcing (Clever-Hans index near
  1 - 1/d); reversed, the whole path is solved.
- **graph_search** (Saparov et al. 2025): the cells of ``sweeps/graph_search.yaml``, one model
  trained on balanced graphs and one on naive graphs, both evaluated on the balanced held-out set
  stratified by the lookahead L of the first move. Expected: the balanced-trained model is the
  better one at large L.

Training goes through the platform (``run_sweep``: local Ray, the specs' ``max_concurrent`` and
``pack``), into ``--store`` (default ``runs/repro``); a rerun reuses finished cells. ``--steps``
replaces the specs' budget (other run hashes; the sweep is named ``<name>-<tag>``), for checks.
Writes ``benchmarks/results/search_repro_<part>[_<tag>].json`` and ``.png``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from repro import arguments, load_spec, run_cells, save_figure

PARTS = ("path_star", "graph_search")


def train(sweep, store: str) -> pd.DataFrame:
    """Run the sweep's unfinished cells; its held-out curves (split eval), one row per metric."""
    curves = run_cells(sweep, store)[0]
    curves = curves[curves["split"] == "eval"]
    options = {c.run_hash: json.dumps({**c.task_options, "train": c.train_options.get("distribution")},
                                      sort_keys=True) for c in sweep.cells}  # fmt: skip
    return curves.assign(options=curves["run_hash"].map(options))


def final(curves: pd.DataFrame) -> pd.DataFrame:
    """The last evaluation of each run: one row per run, one column per metric."""
    last = curves[curves["step"] == curves.groupby("run_hash")["step"].transform("max")]
    table = last.pivot_table(index=["run_hash", "options", "seed"], columns="metric", values="value")
    return table.reset_index()


# -- path-star ------------------------------------------------------------------------------------------
def path_star_report(curves: pd.DataFrame, out: Path) -> dict:
    table = final(curves)
    table["degree"] = table["options"].map(lambda o: json.loads(o)["degree"])
    table["reverse"] = table["options"].map(lambda o: json.loads(o)["reverse"])
    keep = ["degree", "reverse", "seed", "exact", "first_step", "first_acc", "later_acc", "clever_hans"]
    rows = table[[k for k in keep if k in table]].sort_values(["reverse", "degree", "seed"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for reverse, marker in ((False, "o"), (True, "s")):
        part = rows[rows["reverse"] == reverse].groupby("degree").mean(numeric_only=True)
        label = "reverse (goal to source)" if reverse else "forward (source to goal)"
        axes[0].plot(part.index, part["first_step"], marker=marker, label=label)
        axes[1].plot(part.index, part["exact"], marker=marker, label=label)
    degrees = np.arange(2, 6)
    axes[0].plot(degrees, 1 / degrees, "k--", label="chance 1/d")
    _titles(axes[0], "first move (decoded), end of training", "degree d", "accuracy")
    _titles(axes[1], "whole path exact, end of training", "degree d", "accuracy")
    forward = curves[curves["options"].map(lambda o: not json.loads(o)["reverse"])]
    for options, group in forward.groupby("options"):
        d = json.loads(options)["degree"]
        for metric, style in (("first_acc", "-"), ("later_acc", ":")):
            series = group[group["metric"] == metric].groupby("step")["value"].mean()
            label = f"d={d} {'first move' if metric == 'first_acc' else 'later moves'}"
            axes[2].plot(_steps(series), series.values, style, color=f"C{d - 2}", label=label)
    axes[2].set_xscale("log")
    _titles(axes[2], "forward, teacher forced: Clever Hans", "training step", "accuracy")
    save_figure(fig, out)
    return {"final": rows.to_dict(orient="records")}


# -- graph search ---------------------------------------------------------------------------------------
def graph_search_report(curves: pd.DataFrame, out: Path) -> dict:
    table = final(curves)
    table["train"] = table["options"].map(_trained_on)
    looks = sorted(int(m.rsplit("_", 1)[1]) for m in curves["metric"].unique() if m.startswith("first_look_"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    result = {}
    for train, group in table.groupby("train"):
        means = group.mean(numeric_only=True)
        first = [means.get(f"first_look_{k}", np.nan) for k in looks]
        exact = [means.get(f"exact_look_{k}", np.nan) for k in looks]
        axes[0].plot(looks, first, marker="o", label=f"trained on {train}")
        axes[1].plot(looks, exact, marker="o", label=f"trained on {train}")
        result[train] = {"first_step_by_lookahead": dict(zip(looks, first)),
                         "exact_by_lookahead": dict(zip(looks, exact)),
                         "exact": means.get("exact"), "first_step": means.get("first_step"),
                         "valid": means.get("valid")}  # fmt: skip
    _titles(axes[0], "first move right, per lookahead (balanced test set)", "lookahead L", "accuracy")
    _titles(axes[1], "whole path exact, per lookahead", "lookahead L", "accuracy")
    for (options, seed), group in curves.groupby(["options", "seed"]):
        series = group[group["metric"] == "first_step"].groupby("step")["value"].mean()
        axes[2].plot(_steps(series), series.values, label=f"trained on {_trained_on(options)}, seed {seed}")
    axes[2].set_xscale("log")
    _titles(axes[2], "first move over training (all lookaheads)", "training step", "accuracy")
    save_figure(fig, out)
    return {"lookaheads": looks, "by_training_distribution": result}


def _trained_on(options: str) -> str:
    """The training distribution of a graph-search cell (its train_options, else its own)."""
    values = json.loads(options)
    return values["train"] or values["distribution"]


def _steps(series: pd.Series) -> np.ndarray:
    """A curve's steps for a log axis (step 0 drawn at 1)."""
    return np.maximum(series.index.to_numpy(), 1)


def _titles(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def main() -> None:
    args = arguments(__doc__, PARTS)
    for part in args.parts:
        sweep = load_spec(part, args.steps, args.tag)
        start = time.perf_counter()
        curves = train(sweep, args.store)
        report = path_star_report if part == "path_star" else graph_search_report
        summary = report(curves, args.out / f"search_repro_{part}{args.suffix}.png")
        summary.update({"sweep": sweep.name, "cells": len(sweep.cells), "wall_s": time.perf_counter() - start,
                        "steps": sorted({c.steps for c in sweep.cells})})  # fmt: skip
        path = args.out / f"search_repro_{part}{args.suffix}.json"
        path.write_text(json.dumps(summary, indent=1, default=float))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
