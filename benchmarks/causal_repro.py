"""Laptop-scale reproductions of two causal results (issue 31, item 5).

    .venv/bin/python benchmarks/causal_repro.py --part induction     # sweeps/induction_clamps.yaml
    .venv/bin/python benchmarks/causal_repro.py --part d3            # sweeps/d3_staircase.yaml
    .venv/bin/python benchmarks/causal_repro.py --part induction --steps 40 --tag tiny   # a check

- **induction** (Singh et al. 2024; Olsson et al. 2022): a 2-layer attention-only model on repeated
  random tokens with filler, layer 0's patterns free, clamped to the previous token, clamped
  uniform, or clamped uniform until a release step. Expected: the loss phase change coincides with
  the rise of prefix matching; the previous-token clamp makes it earlier; the uniform clamp keeps the
  loss on its plateau; released, induction forms; zeroing one of several induction heads hurts
  partly. Besides the curves, the final weights give each layer-1 head's attention from an answer
  position onto the earlier occurrence of its token at offsets 0 (the occurrence itself), +1 (the
  token after it: prefix matching) and +2, to say which circuit a run found.
- **d3** (the one-step-per-layer study): an L-layer model on compositions of k <= L steps,
  answer-only loss; every evaluation also scores it with one layer zeroed (attention and MLP out).
  Expected: zeroing layer l breaks the chains of k >= l steps and spares the shorter ones (the
  sequential-ablation staircase), beside the logit lens, which reads chains of k steps first after
  layer k (the logit-lens staircase).

Training goes through the platform (``run_sweep``: local Ray), into ``--store`` (default
``runs/repro``); a rerun reuses finished cells. Writes ``benchmarks/results/causal_<part>[_<tag>].json``
and ``.png``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import yaml
from repro import SWEEPS, arguments, load_spec, run_cells, save_figure

SPECS = {"induction": "induction_clamps", "d3": "d3_staircase"}
FORMED = 0.5  # token accuracy at which induction counts as formed (chance: 1/64)


def train(sweep, store: str) -> tuple[pd.DataFrame, object]:
    """Run the sweep's unfinished cells; its curves, with each run's intervention-set name."""
    curves, stores = run_cells(sweep, store)
    named = {h: sweep.origins.get(h, {}).get("interventions", "none") for h in sweep.run_hashes}
    return curves.assign(setting=curves["run_hash"].map(named)), stores


def curve(curves: pd.DataFrame, run: str, split: str, metric: str) -> pd.Series:
    rows = curves[(curves["run_hash"] == run) & (curves["split"] == split) & (curves["metric"] == metric)]
    return rows.sort_values("step").set_index("step")["value"]


def first_step(series: pd.Series, above: float) -> float:
    """The first evaluated step at which ``series`` reaches ``above`` (NaN if never)."""
    hit = series[series >= above]
    return float(hit.index[0]) if len(hit) else float("nan")


# -- induction ------------------------------------------------------------------------------------------
def induction_report(curves: pd.DataFrame, stores, out: Path) -> dict:
    runs = {s: g["run_hash"].iloc[0] for s, g in curves.groupby("setting")}
    summary = {"settings": {}}
    for setting, run in runs.items():
        loss, acc = curve(curves, run, "eval", "loss"), curve(curves, run, "eval", "token_acc")
        match = curve(curves, run, "probe", "prefix_match_max")
        summary["settings"][setting] = {
            "run_hash": run, "final_loss": float(loss.iloc[-1]), "final_token_acc": float(acc.iloc[-1]),
            "final_prefix_match_max": float(match.iloc[-1]) if len(match) else None,
            "step_token_acc_half": first_step(acc, FORMED),  # the phase change
            "step_prefix_match_half": first_step(match, 0.5) if len(match) else None,
            "loss_at_release_or_end": float(loss.iloc[-1]),
            "ablation": ablations(curves, run), "heads": head_offsets(stores, run)}  # fmt: skip
    release = curves[curves["setting"] == "uniform_released"]
    if not release.empty:
        summary["release_step"] = release_step()
        loss = curve(curves, runs["uniform_released"], "eval", "loss")
        before = loss[loss.index <= summary["release_step"]]
        summary["settings"]["uniform_released"]["loss_at_release_or_end"] = float(before.iloc[-1])
    plot_induction(curves, runs, summary, out)
    return summary


def release_step() -> int | None:
    spec = yaml.safe_load((SWEEPS / f"{SPECS['induction']}.yaml").read_text())
    entry = spec["grid"]["interventions"]["uniform_released"][0]
    return entry.get("until_step")


def ablations(curves: pd.DataFrame, run: str) -> dict:
    """Final loss and token accuracy with nothing, each layer-1 head, or all of layer 1 zeroed."""
    rows = curves[(curves["run_hash"] == run) & curves["split"].str.startswith("eval")]
    last = rows[rows["step"] == rows["step"].max()]
    table = last.pivot_table(index="split", columns="metric", values="value")
    return {split.removeprefix("eval:").replace("eval", "intact"): {"loss": float(r["loss"]),
            "token_acc": float(r["token_acc"])} for split, r in table.iterrows()}  # fmt: skip


@torch.no_grad()
def head_offsets(stores, run: str) -> dict | None:
    """Per head of the last layer, from the final weights: mean attention from answer-predicting
    positions onto the earlier occurrence of the query's token at offsets 0, +1 (prefix matching)
    and +2, on the run's probe set."""
    from search_scaling.loader import load_run
    from search_scaling.measures import probe_batch
    from search_scaling.measures.common import pattern_name

    try:
        loaded = load_run(stores, run)
    except (FileNotFoundError, ValueError, KeyError):
        return None
    model, spec = loaded.model, loaded.spec
    batch = probe_batch(spec.task_obj, spec.size, spec.eval_seed, n=128)
    tokens = torch.from_numpy(batch.tokens)
    layer = model.cfg.n_layers - 1
    _, cache = model.run_with_cache(tokens, {pattern_name(layer)})
    pattern = cache[pattern_name(layer)].float()  # [n, head, T, T]
    earlier = earlier_occurrence(batch.tokens)  # [n, T]: position of the earlier same token, -1 none
    queries = np.zeros_like(batch.answer_mask)
    queries[:, :-1] = batch.answer_mask[:, 1:]
    n_idx, t_idx = np.nonzero(queries & (earlier >= 0))
    out = {}
    for offset in (0, 1, 2):
        keys = np.minimum(earlier[n_idx, t_idx] + offset, batch.tokens.shape[1] - 1)
        mass = pattern[n_idx, :, t_idx, keys].mean(0)  # [head]
        out[f"offset_{offset}"] = [round(float(m), 3) for m in mass]
    return out


def earlier_occurrence(tokens: np.ndarray) -> np.ndarray:
    """int[n, T]: for each position, the last earlier position holding the same token (-1: none)."""
    same = tokens[:, :, None] == tokens[:, None, :]  # [n, Tq, Tk]
    before = np.tril(np.ones(same.shape[1:], bool), k=-1)[None]
    pos = np.arange(tokens.shape[1])[None, None, :]
    return np.where(same & before, pos, -1).max(axis=2)


def plot_induction(curves: pd.DataFrame, runs: dict, summary: dict, out: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for setting, run in runs.items():
        loss = curve(curves, run, "eval", "loss")
        match = curve(curves, run, "probe", "prefix_match_max")
        axes[0].plot(np.maximum(loss.index, 1), loss.values, marker=".", label=setting)
        axes[1].plot(np.maximum(match.index, 1), match.values, marker=".", label=setting)
    if summary.get("release_step"):
        for ax in axes[:2]:
            ax.axvline(summary["release_step"], color="grey", ls=":", lw=1)
    for ax, ylabel in zip(axes[:2], ("held-out loss (second copy)", "prefix_match_max (best head)")):
        ax.set_xscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    shown = [s for s in ("none", "previous_token") if summary["settings"].get(s, {}).get("ablation")]
    names = (
        sorted(summary["settings"][shown[0]]["ablation"], key=lambda s: (s != "intact", s)) if shown else []
    )
    for i, setting in enumerate(shown):
        bars = summary["settings"][setting]["ablation"]
        x = np.arange(len(names)) + (i - (len(shown) - 1) / 2) * 0.38
        axes[2].bar(x, [bars[s]["token_acc"] for s in names], width=0.38, label=f"trained {setting}")
    axes[2].set_xticks(range(len(names)), names, rotation=30)
    axes[2].set_ylabel("final held-out token accuracy")
    axes[2].set_title("zeroed at evaluation (layer-1 heads)")
    axes[2].legend(fontsize=8)
    save_figure(fig, out)


# -- d3 ---------------------------------------------------------------------------------------------------
def d3_report(curves: pd.DataFrame, stores, out: Path) -> dict:
    summary = {"runs": {}}
    for run, group in curves.groupby("run_hash"):
        last = group[group["step"] == group["step"].max()]
        ks = sorted(int(m.split("_")[-1]) for m in set(last["metric"]) if m.startswith("exact_k_"))
        splits = sorted(s for s in set(last["split"]) if s.startswith("eval"))
        ablation = {s.removeprefix("eval:").replace("eval", "intact"): {
            k: _value(last, s, f"exact_k_{k}") for k in ks} for s in splits}  # fmt: skip
        summary["runs"][run] = {"model": _first(group, "model"), "seed": _first(group, "seed"),
                                "ablation_exact_by_k": ablation, "lens": lens_by_layer(stores, run),
                                "lens_first_layer": {k: _value(last, "probe", f"lens_first_layer_k{k}")
                                                     for k in ks}}  # fmt: skip
    plot_d3(summary, out)
    return summary


def _value(rows: pd.DataFrame, split: str, metric: str) -> float:
    hit = rows[(rows["split"] == split) & (rows["metric"] == metric)]["value"]
    return float(hit.iloc[0]) if len(hit) else float("nan")


def _first(group: pd.DataFrame, column: str):
    return (
        group[column].iloc[0].item() if column in group and hasattr(group[column].iloc[0], "item") else None
    )


@torch.no_grad()
def lens_by_layer(stores, run: str) -> dict | None:
    """Logit-lens accuracy of the answer at <predict> after each block, per k: {layer: {k: acc}}."""
    from search_scaling.loader import load_run
    from search_scaling.measures import probe_batch
    from search_scaling.measures.common import lens_predictions, resid_name

    try:
        loaded = load_run(stores, run)
    except (FileNotFoundError, ValueError, KeyError):
        return None
    model, spec = loaded.model, loaded.spec
    batch = probe_batch(spec.task_obj, spec.size, spec.eval_seed)
    rows, at = np.arange(len(batch)), torch.from_numpy(batch.prompt_len - 1)
    names = {resid_name(layer) for layer in range(model.cfg.n_layers)}
    _, cache = model.run_with_cache(torch.from_numpy(batch.tokens), names)
    answer = batch.tokens[rows, batch.prompt_len]
    out = {}
    for layer in range(model.cfg.n_layers):
        hits = lens_predictions(model, cache[resid_name(layer)][torch.from_numpy(rows), at]).numpy() == answer
        out[layer] = {int(k): float(hits[batch.size == k].mean()) for k in np.unique(batch.size)}
    return out


def plot_d3(summary: dict, out: Path) -> None:
    runs = list(summary["runs"].values())
    fig, axes = plt.subplots(len(runs), 2, figsize=(10, 3.8 * len(runs)), squeeze=False)
    for row, entry in zip(axes, runs):
        ablation = entry["ablation_exact_by_k"]
        layers = sorted((s for s in ablation if s.startswith("no_L")), key=lambda s: int(s[4:]))
        ks = sorted(next(iter(ablation.values())))
        grid = np.array([[ablation[s][k] for k in ks] for s in layers])
        _heat(row[0], grid, [f"zero layer {int(s[4:]) + 1}" for s in layers], ks,
              f"{entry['model']} seed {entry['seed']}: exact accuracy with one layer zeroed")  # fmt: skip
        if entry["lens"]:
            lens = np.array([[entry["lens"][layer][k] for k in ks] for layer in sorted(entry["lens"])])
            _heat(row[1], lens, [f"after layer {layer + 1}" for layer in sorted(entry["lens"])], ks,
                  "logit lens at <predict>: answer accuracy")  # fmt: skip
    save_figure(fig, out)


def _heat(ax, grid: np.ndarray, rows: list[str], ks: list[int], title: str) -> None:
    ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(ks)), [f"k={k}" for k in ks])
    ax.set_yticks(range(len(rows)), rows)
    for (i, j), v in np.ndenumerate(grid):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w" if v < 0.6 else "k", fontsize=8)
    ax.set_title(title, fontsize=9)


def _finite(value):
    """NaN (never reached) as null, so the JSON is standard."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and not np.isfinite(value) else value


def main() -> None:
    args = arguments(__doc__, SPECS)
    for part in args.parts:
        sweep = load_spec(SPECS[part], args.steps, args.tag)
        start = time.perf_counter()
        curves, stores = train(sweep, args.store)
        report = induction_report if part == "induction" else d3_report
        summary = report(curves, stores, args.out / f"causal_{part}{args.suffix}.png")
        summary.update({"sweep": sweep.name, "cells": len(sweep.cells), "wall_s": time.perf_counter() - start,
                        "steps": sorted({c.steps for c in sweep.cells})})  # fmt: skip
        path = args.out / f"causal_{part}{args.suffix}.json"
        path.write_text(json.dumps(_finite(summary), indent=1, default=float))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
