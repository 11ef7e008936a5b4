"""`build_report(store, sweep, out)`: plots, fitted parameters with intervals, and ``fits.json``,
gathered in a self-contained ``index.html`` (PNGs embedded). Every number names the runs it came
from and the code version that produced them.

The questions, one section each: per problem size, where does exact accuracy jump against loss
(L*), and does L* n stay constant as the metric-artefact null predicts? Is the jump beyond what the
per-token probabilities explain (`analysis.artefact`)? How many parameters and how much compute does
a size need (N*, C*: a monotone fit, no shape assumed) and how fast does that grow (gamma,
`analysis.boundary`)? Which cells ended on their step cap, and what is the least compute that reaches
50% and 90% (`analysis.stops`)? How many layers does a size need (`analysis.depth`, when the sweep
varies depth)? Which paths are solved, by detour and by decisions (`analysis.strata`)? How does loss
fall with parameters and with compute? A sweep too small for a question (one size, one model size, every
run failed) gets a report that says what could not be fitted and why.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import figures
from analysis.artefact import artefact_by_size
from analysis.boundary import boundary_law
from analysis.degenerate import degenerate_fits
from analysis.depth import depth_needed, varies_depth, with_shape
from analysis.equal_params import depth_or_width
from analysis.fit import bootstrap, fit_form
from analysis.goals import goals_section, has_goals
from analysis.groups import add_groups
from analysis.page import findings, render_html
from analysis.per_size import by_group, frontier_by_size, reported, threshold_vs_length, transitions_by_size
from analysis.progress import progress_section
from analysis.records import eval_wide, read_store
from analysis.stops import (
    compute_to_target,
    flag_budget_limited,
    flag_depth_budget,
    stop_summary,
    with_stop_reasons,
)
from analysis.strata import by_stratum
from analysis.transitions import fit_transition, plateau_drop

FIGURES = ("training_curves.png", "accuracy_vs_loss.png", "phase_diagram.png", "boundary_law.png",
           "loss_vs_params.png", "loss_vs_compute.png")  # fmt: skip
# Drawn only when the store has what they show: stratified exact accuracy, several depths, maze_target
# runs (issue 32: where episodes end, the rule followed, retargeting by demonstrations).
GOALS_FIGURES = ("goals_shares.png", "goals_rule.png", "goals_retarget.png", "goals_proxy_corr.png")
OPTIONAL_FIGURES = ("exact_by_stratum.png", "depth_width.png", *GOALS_FIGURES)


def build_report(store, sweep: str, out, n_boot: int = 200) -> dict:
    runs, curves = read_store(store, sweep)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.png"):  # a figure this sweep cannot draw must not survive from an older report
        stale.unlink()
    versions = runs["code_version"].dropna()
    fits = {"sweep": sweep, "store": _relative(store, out), "code_version": sorted(set(versions)),
            "runs": sorted(runs["run_hash"]), "n_runs": len(runs), "bootstrap": n_boot,
            "status": runs["status"].value_counts().to_dict(), "not_fitted": {}}  # fmt: skip
    if versions.nunique() > 1:
        counts = ", ".join(f"{n} run(s) from {v}" for v, n in versions.value_counts().sort_index().items())
        dirty = " (a '-dirty' version: uncommitted changes)" if versions.str.endswith("-dirty").any() else ""
        fits["code_version_warning"] = (
            f"the runs come from {versions.nunique()} code versions: {counts}{dirty}"
        )
    wide = eval_wide(curves) if len(curves) else pd.DataFrame()
    if wide.empty or "exact" not in wide or "loss" not in wide:
        fits["not_fitted"]["everything"] = _why_empty(runs)
    else:
        _analyse(fits, wide, runs, curves, out, n_boot)
        fits["progress"] = progress_section(curves, out)  # lead times of the progress measures + panel
    fits["findings"] = findings(fits)
    text = json.dumps(_strict(fits), indent=1, default=_json_default, allow_nan=False)
    (out / "fits.json").write_text(text)
    (out / "index.html").write_text(render_html(fits, out))
    return fits


def _relative(store, out: Path) -> str:
    """The store as a path relative to the report (a URI as it is): fits.json names no machine."""
    if "://" in str(store):
        return str(store)
    return os.path.relpath(Path(store).resolve(), out.resolve())


def _analyse(fits: dict, wide: pd.DataFrame, runs: pd.DataFrame, curves: pd.DataFrame, out: Path,
             n_boot: int) -> None:  # fmt: skip
    wide = add_groups(wide)
    final = wide.sort_values("step").groupby("run_hash", as_index=False).last()  # as records.final_eval
    final = with_stop_reasons(final, runs)
    points = wide[wide["step"] > 0].dropna(subset=["loss", "exact"])
    fits["groups"] = group_names(wide)
    fits["per_size"] = transitions_by_size(points, n_boot)
    fits["threshold_vs_length"] = threshold_vs_length(fits["per_size"])
    fits["artefact"] = artefact_by_size(points, n_boot=n_boot)
    fits["stops"] = stop_summary(final)
    fits["boundary"] = boundaries(final, n_boot)
    flag_budget_limited(fits["boundary"], final)
    fits["compute_to_target"] = compute_to_target(curves, final)
    final = with_shape(final, runs)
    if varies_depth(final):  # a sweep over depth: where search capacity lives (issue 29)
        fits["depth"] = depth_needed(final, n_boot)
        flag_depth_budget(fits["depth"], final)
        fits["depth"]["equal_params"] = depth_or_width(final)
    fits["loss_vs_params"] = loss_vs_params(final, n_boot)
    fits["loss_vs_compute"] = frontier_by_size(points)
    fits["accuracy_vs_loss"] = pooled_accuracy_vs_loss(points, n_boot)
    fits["phase_diagram"] = phase_table(final)
    fits["by_stratum"] = by_stratum(final)
    fits["training_curves"] = plateau_drops(wide)
    fits["degenerate"] = degenerate_fits(fits, final, points)
    _collect_not_fitted(fits)
    figures.training_curves(wide, out / "training_curves.png")
    figures.accuracy_vs_loss(points, fits["per_size"], fits["artefact"], out / "accuracy_vs_loss.png")
    figures.phase_diagram(final, _params_crossings(fits["boundary"], final), out / "phase_diagram.png",
                          budget=fits["stops"]["budget_limited"])  # fmt: skip
    laws = {_scale_label(k): v for k, v in fits["boundary"].items()}
    figures.boundary_law(laws, out / "boundary_law.png")
    figures.loss_vs_params(final, fits["loss_vs_params"], out / "loss_vs_params.png")
    figures.loss_vs_compute(points, fits["loss_vs_compute"], out / "loss_vs_compute.png")
    if fits["by_stratum"]:
        figures.exact_by_stratum(fits["by_stratum"], out / "exact_by_stratum.png")
    if "depth" in fits:
        figures.depth_width(final, fits["depth"], out / "depth_width.png")
    if has_goals(runs):  # a maze_target sweep: which goal the model pursues off its training distribution
        _goals(fits, runs, curves, out)


def _goals(fits: dict, runs: pd.DataFrame, curves: pd.DataFrame, out: Path) -> None:
    from analysis import goals_figures  # only maze_target sweeps draw these

    fits["goals"] = goals = goals_section(runs, curves)
    goals_figures.outcome_shares(goals, out / "goals_shares.png")
    goals_figures.rule_heatmap(goals, out / "goals_rule.png")
    if goals["retarget"]:
        goals_figures.retarget_curves(goals, out / "goals_retarget.png")
    if goals["vs_proxy_corr"]:
        goals_figures.shifted_vs_proxy_corr(goals, out / "goals_proxy_corr.png")


def group_names(wide: pd.DataFrame) -> dict:
    """Each group key with its task, data condition and size (what the page names it by)."""
    first = wide.drop_duplicates("group").sort_values(["family", "task_size"])
    return {row.group: {"task": row.task, "condition": row.condition or "default", "size": int(row.task_size),
                        "family": row.family} for row in first.itertuples()}  # fmt: skip


def boundaries(final: pd.DataFrame, n_boot: int) -> dict:
    """The phase boundary per family (one task, one data condition): never a law across tasks.
    Keys ``params`` and ``compute`` when the sweep has one family, else ``params (<family>)``..."""
    out = {}
    for family, rows in final.groupby("family", sort=True):
        suffix = f" ({family})" if family else ""
        out[f"params{suffix}"] = boundary_law(rows, "params_nonembed", n_boot=n_boot)
        out[f"compute{suffix}"] = boundary_law(rows, "flops", n_boot=n_boot)
    return out


def _scale_label(key: str) -> str:
    return key.replace("params", "N", 1) if key.startswith("params") else key.replace("compute", "C", 1)


def _params_crossings(boundary: dict, final: pd.DataFrame) -> dict:
    """Group key -> its N*_50 entry, for the phase diagram."""
    out = {}
    for row in final.drop_duplicates("group").itertuples():
        key = f"params ({row.family})" if row.family else "params"
        out[row.group] = boundary.get(key, {}).get("sizes", {}).get(str(row.task_size), {}).get("star_50", {})
    return out


def _why_empty(runs: pd.DataFrame) -> str:
    status = runs["status"].value_counts().to_dict()
    errors = sorted({str(e).splitlines()[0][:200] for e in runs.get("error", pd.Series()).dropna()})
    why = f"no evaluation points with loss and exact accuracy in {len(runs)} run(s) (status: {status})"
    return why + (f"; errors: {'; '.join(errors[:5])}" if errors else "")


def loss_vs_params(final: pd.DataFrame, n_boot: int) -> dict:
    """Final held-out loss against non-embedding parameters, one fit per problem size (a power law,
    or the saturating law when there are enough model sizes), bootstrapped over runs."""
    result = {}
    for size, group in by_group(final.dropna(subset=["loss"])):
        x, y = group["params_nonembed"].to_numpy(float), group["loss"].to_numpy(float)
        if len(np.unique(x)) < 3 or np.any(y <= 0):
            why = (
                f"{len(np.unique(x))} model size(s); a law needs 3"
                if len(np.unique(x)) < 3
                else "a loss <= 0"
            )
            result[str(size)] = {"form": None, "reason": why, "runs": list(group.run_hash)}
            continue
        fit = fit_form("saturating" if len(np.unique(x)) >= 5 else "power", x, y)
        bootstrap(fit, x, y, n=n_boot, groups=group["run_hash"].to_numpy())
        result[str(size)] = {**fit.to_json(), "runs": list(group.run_hash)}
    return result


def pooled_accuracy_vs_loss(points: pd.DataFrame, n_boot: int) -> dict:
    """Every size pooled in one sigmoid (kept for comparison: the per-size fits are the answer),
    and the continuous companion against compute next to exact accuracy: does the jump survive?"""
    result = {"n_points": len(points), "runs": sorted(points["run_hash"].unique()),
              "note": "all sizes pooled; see per_size"}  # fmt: skip
    try:
        fit = fit_transition(points["loss"], points["exact"], n_eval=points["eval_examples"], n_boot=n_boot,
                             groups=points["run_hash"].to_numpy())  # fmt: skip
        result["transition"] = reported(fit.to_json())
        compute = np.log10(points["flops"].clip(lower=1))
        result["exact_vs_log_flops"] = fit_transition(
            compute, points["exact"], n_eval=points["eval_examples"]
        ).to_json()
        if "answer_logprob" in points:
            companion = fit_transition(compute, np.exp(points["answer_logprob"]))
            result["companion_vs_log_flops"] = companion.to_json()
            result["jump_survives_companion"] = bool(companion.transition)
    except ValueError as err:
        result["transition"] = {"error": str(err)}
    return result


def phase_table(final: pd.DataFrame) -> dict:
    """Final exact accuracy per (size, parameters): the seed mean and every seed."""
    cells = {}
    for (size, params), group in final.groupby(["group", "params_nonembed"]):
        group = group.sort_values("seed")
        cells.setdefault(str(size), {})[str(params)] = {
            "mean": float(group["exact"].mean()), "seeds": dict(zip(map(str, group["seed"]), group["exact"])),
            "runs": list(group["run_hash"])}  # fmt: skip
    return {"exact": {s: {p: c["mean"] for p, c in row.items()} for s, row in cells.items()}, "cells": cells}


def plateau_drops(wide: pd.DataFrame) -> dict:
    """Per run: the loss-only plateau-then-drop step, and how close it lands to the step where exact
    accuracy first reaches half its final best."""
    result = {}
    for run, group in wide.groupby("run_hash"):
        group = group[group["step"] > 0].sort_values("step")
        found = plateau_drop(group["step"], group["loss"])
        best = group["exact"].max()
        half = group[group["exact"] >= 0.5 * best]["step"] if best > 0.1 else []
        if found.get("verdict") == "drop" and len(half):
            found["acc_half_step"] = float(half.iloc[0])
            found["log10_error"] = float(np.log10(found["step"] / half.iloc[0]))
        result[run] = found
    return result


def _collect_not_fitted(fits: dict) -> None:
    """Every question a sweep could not answer, with the reason, in one place."""
    missing = fits["not_fitted"]
    for size, entry in fits["per_size"].items():
        if "error" in entry["transition"]:
            missing[f"L* (size {size})"] = entry["transition"]["error"]
    for size, tests in fits["artefact"].items():
        for loss, test in tests.items():
            if test["verdict"] in ("undetermined", "not tested"):
                missing[f"artefact test on {loss} (size {size})"] = test["reason"]
    for what, why in fits.get("degenerate", {}).items():
        missing[what] = f"degenerate fit, not shown as a result: {why}"
    for scale, result in fits["boundary"].items():
        if result["law"].get("form") is None:
            missing[f"{scale} boundary law"] = result["law"]["reason"]
        for size, entry in result["sizes"].items():
            if entry.get("reason"):
                missing[f"{scale} crossing (size {size})"] = entry["reason"]
    for size, fit in fits["loss_vs_params"].items():
        if fit.get("form") is None:
            missing[f"loss vs params (size {size})"] = fit["reason"]
    for family, laws in fits.get("depth", {}).get("laws", {}).items():
        for width, law in laws.items():
            if law.get("form") is None:
                missing[f"layers-needed law ({family}, width {width})"] = law["reason"]
    if fits["threshold_vs_length"]["verdict"] == "undetermined" and "reason" in fits["threshold_vs_length"]:
        missing["L* n across sizes"] = fits["threshold_vs_length"]["reason"]


def _strict(value):
    """NaN and infinities as null: strict JSON, readable by a browser and by jq."""
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _json_default(value):
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
