"""Did the mechanism move before the metric? Lead times of the progress measures (split ``probe``)
over exact accuracy, and a panel of both over training.

For one run and one curve v(step), the *half-rise step* is the first evaluated step after the
curve's lowest point at which it has covered half of its rise from that low to its last value:

    s_half = min { s >= s_low : (v(s) - v_low) / (v(end) - v_low) >= 1/2 },  v_low = v(s_low) = min v,

i.e. "half its final value" measured from where the rise starts: a wall probe starts at chance (0.5
for balanced accuracy) or above it (a random network's residual stream already holds some of the
maze, and training first washes it out), not at 0; for accuracy that starts at 0 this is the
plain half of the final value. The lead time of a run is log10(s_half(accuracy) / s_half(measure)):
positive when the measure moved first (1 = ten times earlier). Only runs whose accuracy jumps (rises
by at least `MIN_JUMP`) and whose measure rises (by at least `MIN_RISE`) have one. Over runs: the
median and a percentile-bootstrap 95% interval of the median.

`progress_section(curves, out)` is the report's entry point; `progress_html` renders it.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# The measure set beside accuracy, per task (names from `search_scaling.measures`), and each
# task's accuracy (its `Task.primary_metric`; a test keeps the two in step).
MAIN_MEASURE = {"maze": "wall_probe_best", "maze_target": "wall_probe_best", "parity": "iter_attn_max",
                "binary_copy": "iter_attn_max", "polynomial": "iter_attn_max", "d3": "lens_decodable",
                "induction": "prefix_match_max", "assoc_recall": "prefix_match_max",
                "graph_search": "edge_attn_max", "path_star": "edge_attn_max"}  # fmt: skip
ACCURACY = {"maze": "exact", "maze_target": "reached_nearest", "parity": "final",
            "binary_copy": "final", "polynomial": "final", "d3": "exact", "induction": "token_acc",
            "assoc_recall": "exact", "graph_search": "exact", "path_star": "exact"}  # fmt: skip
MIN_JUMP = 0.2  # accuracy must rise this much over training for a run to count as "jumping"
MIN_RISE = 0.02  # a measure that moves less has no half-rise step
PANEL_RUNS = 4


def half_rise_step(steps, values, min_rise: float = MIN_RISE) -> float:
    """The first step after their low at which ``values`` cover half their rise from it to the end
    (NaN if that rise is under ``min_rise``)."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    order = np.argsort(steps)
    steps, values = steps[order], values[order]
    if len(values) < 2 or not np.isfinite(values).all():
        return float("nan")
    low = int(np.argmin(values))  # the first lowest point
    rise = values[-1] - values[low]
    if rise < min_rise:
        return float("nan")
    return float(steps[low + np.argmax((values[low:] - values[low]) / rise >= 0.5)])


def lead_times(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per run with a probe curve: its measure, the half-rise steps of the measure and of
    accuracy, whether accuracy jumps, and ``log10_lead`` (NaN where either has no half-rise step)."""
    rows = []
    for run, group in curves.groupby("run_hash", sort=True):
        task = group["task"].iloc[0] if "task" in group else None
        measure, accuracy = MAIN_MEASURE.get(task), ACCURACY.get(task, "exact")
        probe = group[(group["split"] == "probe") & (group["metric"] == measure)]
        acc = group[(group["split"] == "eval") & (group["metric"] == accuracy)].sort_values("step")
        if probe.empty or acc.empty:
            continue
        jumps = bool(acc["value"].iloc[-1] - acc["value"].iloc[0] >= MIN_JUMP)
        s_measure = half_rise_step(probe["step"], probe["value"])
        s_acc = half_rise_step(acc["step"], acc["value"], MIN_JUMP)
        lead = np.log10(s_acc / s_measure) if jumps and s_measure > 0 and s_acc > 0 else float("nan")
        rows.append({"run_hash": run, "task": task, "model": _first(group, "model"),
                     "task_size": _first(group, "task_size"), "seed": _first(group, "seed"),
                     "measure": measure, "accuracy": accuracy, "jumps": jumps,
                     "measure_half_step": s_measure, "accuracy_half_step": s_acc,
                     "log10_lead": lead})  # fmt: skip
    return pd.DataFrame(rows)


def _first(group: pd.DataFrame, column: str):
    return group[column].iloc[0] if column in group else None


def summarise(table: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> dict:
    """Median lead over the runs that have one, with a 95% percentile-bootstrap interval."""
    leads = table["log10_lead"].dropna().to_numpy() if len(table) else np.array([])
    out = {"n_runs": int(len(table)), "n_with_lead": int(len(leads))}
    if len(leads) == 0:
        return out
    boot = np.median(np.random.default_rng(seed).choice(leads, (n_boot, len(leads))), axis=1)
    return {**out, "median_log10_lead": float(np.median(leads)),
            "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
            "share_measure_first": float(np.mean(leads > 0))}  # fmt: skip


def progress_panel(curves: pd.DataFrame, table: pd.DataFrame, path: Path, n_runs: int = PANEL_RUNS) -> list:
    """Accuracy and the main measure over training for a few representative runs (jumping runs
    first, spread over model size): one subplot each, the measure on the right axis."""
    picks = _representative(table, n_runs)
    if not picks:
        return []
    fig, axes = plt.subplots(1, len(picks), figsize=(3.4 * len(picks), 3.2), squeeze=False)
    for ax, run in zip(axes[0], picks):
        row = table.set_index("run_hash").loc[run]
        group = curves[curves["run_hash"] == run]
        acc = group[(group["split"] == "eval") & (group["metric"] == row["accuracy"])].sort_values("step")
        probe = group[(group["split"] == "probe") & (group["metric"] == row["measure"])].sort_values("step")
        ax.plot(acc["step"].clip(lower=1), acc["value"], color="tab:blue", lw=1.5, label=row["accuracy"])
        twin = ax.twinx()
        twin.plot(probe["step"].clip(lower=1), probe["value"], color="tab:red", lw=1.5, label=row["measure"])
        for step, color in ((row["accuracy_half_step"], "tab:blue"), (row["measure_half_step"], "tab:red")):
            if np.isfinite(step) and step > 0:
                ax.axvline(step, color=color, ls=":", lw=1)
        title = f"{row['model']} size {row['task_size']} seed {row['seed']}"
        ax.set(xscale="log", xlabel="step", ylim=(-0.02, 1.02), title=title)
        ax.set_ylabel(row["accuracy"], color="tab:blue")
        twin.set_ylabel(row["measure"], color="tab:red")
    # fixed margins: tight_layout measures every tick label of every (twin) axis, seconds per figure
    margin = 0.75 / fig.get_figwidth()  # 0.75 inch each side for the two y labels
    fig.subplots_adjust(left=margin, right=1 - margin, bottom=0.16, top=0.88, wspace=0.75)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return picks


def _representative(table: pd.DataFrame, n: int) -> list[str]:
    if table.empty:
        return []
    ordered = table.sort_values(["jumps", "model", "task_size", "seed"], ascending=[False, True, True, True])
    jumping = ordered[ordered["jumps"]]
    pool = jumping if len(jumping) >= n else ordered
    idx = np.unique(np.linspace(0, len(pool) - 1, min(n, len(pool))).round().astype(int))
    return pool["run_hash"].iloc[idx].tolist()


def progress_section(curves: pd.DataFrame, out: Path) -> dict:
    """The report's progress section: lead-time table, its summary, and ``progress_panel.png``."""
    table = lead_times(curves)
    panel = progress_panel(curves, table, Path(out) / "progress_panel.png")
    records = table.replace({np.nan: None}).to_dict("records") if len(table) else []
    return {"lead_times": records, "summary": summarise(table), "panel_runs": panel,
            "min_jump": MIN_JUMP}  # fmt: skip


def progress_html(section: dict, out: Path) -> str:
    """An HTML fragment: the panel (embedded) and the lead-time table."""
    summary, figure = section["summary"], ""
    if section["panel_runs"]:
        data = base64.b64encode((Path(out) / "progress_panel.png").read_bytes()).decode()
        figure = f'<figure><img alt="progress_panel.png" src="data:image/png;base64,{data}"></figure>'
    if "median_log10_lead" in summary:
        lo, hi = summary["ci95"]
        line = (f"median log10 lead {summary['median_log10_lead']:+.2f} [{lo:+.2f}, {hi:+.2f}] (95% "
                f"bootstrap) over {summary['n_with_lead']} runs; the measure moved first in "
                f"{summary['share_measure_first']:.0%} of them")  # fmt: skip
    else:
        line = f"no run's accuracy rose by {section['min_jump']} with a rising measure: no lead time"
    rows = "".join(
        f"<tr><td>{html.escape(str(r['model']))}</td><td>{r['task_size']}</td><td>{r['seed']}</td>"
        f"<td>{html.escape(str(r['measure']))}</td><td>{_step(r['measure_half_step'])}</td>"
        f"<td>{_step(r['accuracy_half_step'])}</td><td>{_lead(r['log10_lead'])}</td></tr>"
        for r in section["lead_times"]
    )
    return (f'<h2>Progress measures: did the mechanism move first?</h2>{figure}<p id="lead-summary">{line}'
            "</p><table id=\"lead-times\"><tr><th>model</th><th>size</th><th>seed</th><th>measure</th>"
            "<th>measure half-rise step</th><th>accuracy half-rise step</th><th>log10 lead</th></tr>"
            f"{rows}</table>")  # fmt: skip


def _step(value) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.0f}"


def _lead(value) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:+.2f}"
