"""Results of a hyperparameter search (``<sweep>-tune`` runs): one row per trial, the best trial per
group, the learning-rate law lr*(N) = c * N^b with a bootstrap interval, its plot and its page.

A trial is a set of runs with the same sampled values (one per problem size of its group); it is
complete when all of them finished (``done``); only complete trials compete for the optimum, and its
objective is the mean final metric over its runs. Reads the runs table only (``spec_json``,
``final_json``, ``status``, ``params_nonembed``), so it works on any store with those columns.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def trial_table(
    runs: pd.DataFrame,
    trials: dict[str, list[list[str]]],
    fields: list[str],
    metric: str,
    baselines: dict[str, dict] | None = None,
) -> pd.DataFrame:
    """One row per trial: group, model, params_nonembed, the sampled fields, objective, complete,
    baseline (the spec's own values, from ``baselines`` {group: values}), statuses and the run
    hashes. ``trials``: {group: [[run hashes of one trial], ...]}."""
    baselines = baselines or {}
    by_hash = runs.drop_duplicates("run_hash").set_index("run_hash")
    rows = []
    for group, hash_lists in trials.items():
        for hashes in hash_lists:
            known = [h for h in hashes if h in by_hash.index]
            if not known:
                continue
            spec = json.loads(by_hash.loc[known[0], "spec_json"])
            statuses = [by_hash.loc[h, "status"] if h in by_hash.index else "missing" for h in hashes]
            finals = [_final(by_hash, h, metric) for h in hashes]
            complete = all(s == "done" for s in statuses)
            rows.append(
                {
                    "group": group,
                    "model": spec["model"],
                    "params_nonembed": int(by_hash.loc[known[0], "params_nonembed"]),
                    **{f: spec[f] for f in fields},
                    "baseline": baselines.get(group) == {f: spec[f] for f in fields},
                    "objective": float(np.mean(finals)) if complete else np.nan,
                    "complete": complete,
                    "statuses": ",".join(statuses),
                    "runs": list(hashes),
                }
            )
    return pd.DataFrame(rows)


def _final(by_hash: pd.DataFrame, run_hash: str, metric: str) -> float:
    if run_hash not in by_hash.index or not isinstance(by_hash.loc[run_hash, "final_json"], str):
        return np.nan
    return float(json.loads(by_hash.loc[run_hash, "final_json"]).get(metric, np.nan))


def best_per_group(table: pd.DataFrame, mode: str = "min") -> pd.DataFrame:
    """The best complete trial of each group (a group with none is left out)."""
    done = table[table["complete"] & np.isfinite(table["objective"])]
    if done.empty:
        return done
    pick = (
        done.groupby("group")["objective"].idxmin()
        if mode == "min"
        else done.groupby("group")["objective"].idxmax()
    )
    return done.loc[pick.to_numpy()].sort_values("params_nonembed").reset_index(drop=True)


def lr_law(
    table: pd.DataFrame, mode: str = "min", n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict:
    """Best learning rate per model size vs non-embedding parameters: log lr* = log c + b log N by
    least squares; the interval resamples each group's complete trials (the optimum moves with the
    luck of the sampled values) and refits. Needs two model sizes; says why not otherwise."""
    best = best_per_group(table, mode)
    per_model = best.groupby("params_nonembed")["lr"].apply(lambda s: float(np.exp(np.log(s).mean())))
    if "lr" not in table or len(per_model) < 2:
        return {"fitted": False, "reason": f"needs the best lr of >= 2 model sizes, has {len(per_model)}"}
    n, lr = per_model.index.to_numpy(float), per_model.to_numpy(float)
    slope, intercept = np.polyfit(np.log(n), np.log(lr), 1)
    rng = np.random.default_rng(seed)
    done = table[table["complete"] & np.isfinite(table["objective"])]
    slopes = []
    for _ in range(n_boot):
        sample = pd.concat(
            [g.sample(len(g), replace=True, random_state=rng) for _, g in done.groupby("group")]
        )
        b = (
            best_per_group(sample, mode)
            .groupby("params_nonembed")["lr"]
            .apply(lambda s: np.exp(np.log(s).mean()))
        )
        if len(b) >= 2:
            slopes.append(np.polyfit(np.log(b.index.to_numpy(float)), np.log(b.to_numpy(float)), 1)[0])
    alpha = (1 - level) / 2
    interval = np.quantile(slopes, [alpha, 1 - alpha]).tolist() if slopes else [np.nan, np.nan]
    return {
        "fitted": True,
        "coefficient": float(np.exp(intercept)),
        "exponent": float(slope),
        "exponent_interval": interval,
        "level": level,
        "params_range": [float(n.min()), float(n.max())],
        "points": {str(int(k)): float(v) for k, v in zip(n, lr)},
    }


def plot_lr_curves(table: pd.DataFrame, best: pd.DataFrame, law: dict, metric: str, path: Path) -> None:
    """Held-out metric vs learning rate, one curve per model size (complete trials), the optimum
    marked; beside it the best lr vs parameters with the law and its band."""
    fig, (ax, ax_law) = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = sorted(table["params_nonembed"].unique())
    cmap = plt.get_cmap("viridis")
    colour = {n: cmap(i / max(1, len(sizes) - 1)) for i, n in enumerate(sizes)}
    for n, group in table[table["complete"]].groupby("params_nonembed"):
        group = group.groupby("lr")["objective"].mean().sort_index()
        model = table.loc[table["params_nonembed"] == n, "model"].iloc[0]
        ax.plot(group.index, group.to_numpy(), "o-", color=colour[n], ms=4, label=f"{model} ({n:,})")
    for row in best.itertuples(index=False):
        ax.plot(row.lr, row.objective, "*", ms=14, color=colour[row.params_nonembed], mec="black")
    ax.set(
        xscale="log",
        xlabel="learning rate",
        ylabel=f"held-out {metric} (short budget)",
        title="search per model size (star: optimum)",
    )
    if table["complete"].any():
        ax.legend(fontsize=8, title="model (non-embedding params)", title_fontsize=8)
    else:
        ax.text(0.5, 0.5, "no complete trial", transform=ax.transAxes, ha="center")
    ax_law.scatter(best["params_nonembed"], best["lr"], color="black", zorder=3)
    if law.get("fitted"):
        lo, hi = law["params_range"]
        grid = np.geomspace(lo / 3, hi * 10, 50)
        ax_law.plot(
            grid,
            law["coefficient"] * grid ** law["exponent"],
            color="tab:blue",
            label=f"lr* = {law['coefficient']:.3g} N^{law['exponent']:.2f}",
        )
        ax_law.axvspan(hi, hi * 10, color="0.9", label="extrapolated")
        ax_law.legend(fontsize=8)
    ax_law.set(
        xscale="log",
        yscale="log" if len(best) else "linear",
        xlabel="non-embedding parameters N",
        ylabel="best learning rate",
        title="learning-rate law",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_tuning_report(table: pd.DataFrame, best: pd.DataFrame, law: dict, meta: dict, out: Path) -> Path:
    """``out/index.html`` (the plot and the tables) and ``out/tuning.json`` (every number)."""
    import base64

    out.mkdir(parents=True, exist_ok=True)
    plot_lr_curves(table, best, law, meta["metric"], out / "lr_search.png")
    payload = {
        **meta,
        "lr_law": law,
        "best": best.drop(columns=["runs"]).to_dict("records"),
        "trials": table.to_dict("records"),
    }
    (out / "tuning.json").write_text(json.dumps(payload, indent=1, default=_json_default))
    png = base64.b64encode((out / "lr_search.png").read_bytes()).decode()
    shown = [c for c in table.columns if c not in ("runs",)]
    page = (
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(meta['sweep'])}</title>"
        f"<h1>Hyperparameter search: {html.escape(meta['sweep'])}</h1>"
        f"<p>{html.escape(_summary(table, best, law))}</p>"
        f"<figure><img src='data:image/png;base64,{png}' alt='held-out metric vs learning rate'></figure>"
        f"<h2>Best per group</h2>{best[shown].to_html(index=False)}"
        f"<h2>All trials</h2>{table[shown].to_html(index=False)}"
    )
    (out / "index.html").write_text(page)
    return out / "index.html"


def _summary(table: pd.DataFrame, best: pd.DataFrame, law: dict) -> str:
    parts = []
    for row in best.itertuples():
        text = f"{row.model}: lr {row.lr:.3g} ({row.objective:.4f})" if "lr" in best else f"{row.model}"
        base = table[(table["group"] == row.group) & table.get("baseline", False)]
        if len(base) and base["complete"].iloc[0]:
            text += f" vs the spec's lr {base['lr'].iloc[0]:.3g} ({base['objective'].iloc[0]:.4f})"
        elif len(base):
            text += f" vs the spec's lr {base['lr'].iloc[0]:.3g} (stopped early by the scheduler)"
        parts.append(text)
    text = "Best per group: " + "; ".join(parts) + "." if parts else "No complete trial."
    if law.get("fitted"):
        lo, hi = law["exponent_interval"]
        text += (
            f" Learning-rate law: lr* = {law['coefficient']:.3g} N^{law['exponent']:.3f} "
            f"(exponent {law['level']:.0%} interval [{lo:.3f}, {hi:.3f}])."
        )
    else:
        text += f" No learning-rate law: {law.get('reason')}."
    return text


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)
