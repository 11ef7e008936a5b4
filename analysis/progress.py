"""Did the mechanism move before the metric? Lead times of the progress measures (split ``probe``)
over exact accuracy, each measure against its own baseline at initialisation, and a panel.

For one run and one curve v(step), the *half-rise step* is the first evaluated step after the
curve's lowest point at which it has covered half of its rise from that low to its last value:

    s_half = min { s >= s_low : (v(s) - v_low) / (v(end) - v_low) >= 1/2 },  v_low = v(s_low) = min v.

The lead time of a run is log10(s_half(accuracy) / s_half(measure)): positive when the measure moved
first (1 = ten times earlier). Its resolution is one evaluation interval (the median log10 ratio of
successive evaluated steps, stated with the summary). Only runs whose accuracy jumps (rises by at
least `MIN_JUMP`) and whose measure rises (by at least `MIN_RISE`) have one.

Control (issue 30): a measure must be read against what it gives an untrained model. Its *baseline*
is its value at step 0; a measure that is at its best there (it ends at or below its step-0 value in
more than half of the runs) reads something the untrained network already has (input statistics, not
a mechanism): its half-rise times a recovery from the wash-out, so it is flagged and gives no lead
time. A selectivity control (the same probe on shuffled labels, Hewitt and Liang 2019) is used when
the store has the curve ``<measure>_control`` (selectivity = measure - control); the platform's
measures do not log one yet, and the report says so.

Every measure named for a task (`MEASURES`) gets its baseline, its control and, where used, its lead
times with the median and a percentile-bootstrap 95% interval of the median over runs.
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
# Every measure the report reads per task (the main one first); mazes: the three the README names.
MAZE_MEASURES = ("wall_probe_best", "adj_attn_max", "lens_decision_L0", "path_probe_best")
MEASURES = {**{task: (measure,) for task, measure in MAIN_MEASURE.items()},
            "maze": MAZE_MEASURES, "maze_target": MAZE_MEASURES}  # fmt: skip
# What a lead of a measure can and cannot mean, said beside its numbers.
CAVEATS = {"lens_decision_L0": "in one-layer models layer 0 is the last, where the lens is decision_acc "
           "(teacher-forced accuracy at decisions), which must rise before exact accuracy can: a lead "
           "there is no evidence of a cheap precursor"}  # fmt: skip
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
    """One row per (run, named measure with a probe curve): the measure's value at step 0 and at the
    end, the half-rise steps of the measure and of accuracy, whether accuracy jumps, and
    ``log10_lead`` (NaN where either has no half-rise step). Ordered by model, size, seed, measure."""
    rows = []
    for run, group in curves.groupby("run_hash", sort=True):
        task = group["task"].iloc[0] if "task" in group else None
        accuracy = ACCURACY.get(task, "exact")
        acc = group[(group["split"] == "eval") & (group["metric"] == accuracy)].sort_values("step")
        if acc.empty:
            continue
        jumps = bool(acc["value"].iloc[-1] - acc["value"].iloc[0] >= MIN_JUMP)
        s_acc = half_rise_step(acc["step"], acc["value"], MIN_JUMP)
        for measure in MEASURES.get(task, ()):
            probe = group[(group["split"] == "probe") & (group["metric"] == measure)].sort_values("step")
            if probe.empty:
                continue
            s_measure = half_rise_step(probe["step"], probe["value"])
            lead = np.log10(s_acc / s_measure) if jumps and s_measure > 0 and s_acc > 0 else float("nan")
            at_init = probe.loc[probe["step"] == 0, "value"]
            rows.append({"run_hash": run, "task": task, "model": _first(group, "model"),
                         "params_nonembed": _first(group, "params_nonembed"),
                         "task_size": _first(group, "task_size"), "seed": _first(group, "seed"),
                         "measure": measure, "accuracy": accuracy, "jumps": jumps,
                         "at_init": float(at_init.iloc[0]) if len(at_init) else float("nan"),
                         "final": float(probe["value"].iloc[-1]), "measure_half_step": s_measure,
                         "accuracy_half_step": s_acc, "log10_lead": lead})  # fmt: skip
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = [
        c for c in ("params_nonembed", "model", "task_size", "seed", "measure") if table[c].notna().any()
    ]
    return table.sort_values(order, kind="stable").reset_index(drop=True)


def _first(group: pd.DataFrame, column: str):
    return group[column].iloc[0] if column in group else None


def baseline(rows: pd.DataFrame) -> dict:
    """One measure's values at initialisation against the end, over runs, and whether it starts at
    its best (ends at or below its step-0 value in more than half of the runs)."""
    known = rows.dropna(subset=["at_init"])
    if known.empty:
        return {"n_runs": 0, "starts_at_best": False, "note": "no evaluation at step 0: no baseline"}
    below = int(np.sum(known["final"] <= known["at_init"]))
    out = {"n_runs": len(known), "median_at_init": float(known["at_init"].median()),
           "median_final": float(known["final"].median()), "runs_ending_at_or_below_init": below,
           "starts_at_best": bool(below > len(known) / 2)}  # fmt: skip
    if out["starts_at_best"]:
        out["note"] = (f"at its best at initialisation (median {out['median_at_init']:.2f} at step 0); it "
                       f"ends at or below its step-0 value in {below} of {len(known)} runs: its half-rise "
                       "times a recovery, not a mechanism, so it gives no lead time")  # fmt: skip
    return out


def control(curves: pd.DataFrame, measure: str) -> dict:
    """The selectivity control: ``<measure>_control`` (the probe on shuffled labels) where logged."""
    name = f"{measure}_control"
    both = curves[(curves["split"] == "probe") & curves["metric"].isin([measure, name])]
    if name not in set(both["metric"]):
        return {"available": False, "note": f"no selectivity control in the store ({name} not logged; the "
                "measures would need a probe on shuffled labels, Hewitt and Liang 2019)"}  # fmt: skip
    last = both.sort_values("step").groupby(["run_hash", "metric"])["value"].last().unstack()
    selectivity = (last[measure] - last[name]).dropna()
    return {"available": True, "median_final_selectivity": float(selectivity.median()),
            "n_runs": int(len(selectivity))}  # fmt: skip


def resolution_log10(curves: pd.DataFrame) -> float | None:
    """One evaluation interval in log10 steps: the median log10 ratio of successive evaluated steps."""
    steps = np.unique(curves.loc[(curves["split"] == "eval") & (curves["step"] > 0), "step"])
    return float(np.median(np.diff(np.log10(steps)))) if len(steps) >= 2 else None


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


def per_measure(curves: pd.DataFrame, table: pd.DataFrame) -> dict:
    """Per named measure: its baseline, its control, and its lead-time summary (or why none)."""
    out = {}
    for measure, rows in table.groupby("measure", sort=False):
        base = baseline(rows)
        entry = {"baseline": base, "control": control(curves, measure), "used": not base["starts_at_best"]}
        if measure in CAVEATS:
            entry["caveat"] = CAVEATS[measure]
        entry["summary"] = summarise(rows) if entry["used"] else {"n_runs": len(rows), "reason": base["note"]}
        out[measure] = entry
    return out


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
    """The report's progress section: per measure its baseline, control and lead-time summary; the
    lead-time table; the resolution of a lead; and ``progress_panel.png`` (the main measure)."""
    table = lead_times(curves)
    main = table[table["measure"] == table["task"].map(MAIN_MEASURE)] if len(table) else table
    panel = progress_panel(curves, main.reset_index(drop=True), Path(out) / "progress_panel.png")
    records = table.replace({np.nan: None}).to_dict("records") if len(table) else []
    return {"measures": per_measure(curves, table) if len(table) else {}, "lead_times": records,
            "resolution_log10": resolution_log10(curves), "panel_runs": panel,
            "min_jump": MIN_JUMP}  # fmt: skip


def progress_html(section: dict, out: Path) -> str:
    """An HTML fragment: the panel (embedded), one line per measure, and the lead-time table."""
    figure = ""
    if section["panel_runs"]:
        data = base64.b64encode((Path(out) / "progress_panel.png").read_bytes()).decode()
        figure = f'<figure><img alt="progress_panel.png" src="data:image/png;base64,{data}"></figure>'
    resolution = section.get("resolution_log10")
    note = (f"<p>A lead's resolution is one evaluation interval, about {resolution:.2f} in log10 steps; "
            "positive: the measure reached half its rise first.</p>" if resolution else "")  # fmt: skip
    lines = "".join(
        f"<li>{_measure_line(m, e, section['min_jump'])}</li>" for m, e in section["measures"].items()
    )
    if not lines:
        lines = "<li>no probe curves in the store: no lead time</li>"
    return (f'<h2>Progress measures: did the mechanism move first?</h2>{figure}{note}<ul id="lead-summary">'
            f"{lines}</ul>{_lead_table(section)}")  # fmt: skip


def _measure_line(measure: str, entry: dict, min_jump: float) -> str:
    base, summary = entry["baseline"], entry["summary"]
    text = f"<b>{html.escape(measure)}</b>: "
    if "median_at_init" in base:
        init, final = base["median_at_init"], base["median_final"]
        text += f"median {init:.2f} at step 0 (untrained), {final:.2f} at the end; "
    if not entry["used"]:
        text += "not used for lead times: " + html.escape(summary["reason"])
    elif "median_log10_lead" in summary:
        lo, hi = summary["ci95"]
        text += (
            f"median log10 lead {summary['median_log10_lead']:+.2f} [{lo:+.2f}, {hi:+.2f}] over "
            f"{summary['n_with_lead']} runs; it moved first in {summary['share_measure_first']:.0%} of them"
        )
    else:
        text += f"no run's accuracy rose by {min_jump} with this measure rising: no lead time"
    caveat = f"; caveat: {CAVEATS[measure]}" if measure in CAVEATS else ""
    return text + "; " + html.escape(entry["control"].get("note", "selectivity control logged") + caveat)


def _lead_table(section: dict) -> str:
    """One row per run (model, size, seed order), one log10-lead column per measure used."""
    used = [m for m, e in section["measures"].items() if e["used"]]
    if not used:
        return ""
    runs: dict[str, dict] = {}
    for r in section["lead_times"]:
        if r["measure"] in used:
            runs.setdefault(r["run_hash"], {"row": r})[r["measure"]] = r["log10_lead"]
    head = "".join(f"<th>log10 lead: {html.escape(m)}</th>" for m in used)
    body = "".join(
        f"<tr><td>{html.escape(str(v['row']['model']))}</td><td>{v['row']['task_size']}</td>"
        f"<td>{v['row']['seed']}</td><td>{_step(v['row']['accuracy_half_step'])}</td>"
        + "".join(f"<td>{_lead(v.get(m))}</td>" for m in used)
        + "</tr>"
        for v in runs.values()
    )
    return ('<table id="lead-times"><tr><th>model</th><th>size</th><th>seed</th>'
            f"<th>accuracy half-rise step</th>{head}</tr>{body}</table>")  # fmt: skip


def _step(value) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.0f}"


def _lead(value) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:+.2f}"
