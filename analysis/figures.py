"""The report's figures: small multiples (one panel per problem size), model size as colour on a
sequential colormap with a colorbar (never a legend with one entry per run), seeds as thin lines,
intervals drawn wherever a number has one. Readable at 100% zoom: about 4 inches per panel."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.artefact import predicted_exact  # noqa: E402

CMAP = "viridis"
PANEL = 3.6  # inches per panel


def _panels(n_cols: int, n_rows: int = 1, sharey="row"):
    # Fixed margins: constrained layout took seconds per figure on a busy 2-core machine.
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(PANEL * n_cols + 1.2, PANEL * n_rows * 0.85 + 0.5),
                             squeeze=False, sharey=sharey)  # fmt: skip
    width, height = fig.get_figwidth(), fig.get_figheight()
    fig.subplots_adjust(left=0.6 / width, right=1 - 1.3 / width, bottom=0.5 / height, top=1 - 0.35 / height,
                        wspace=0.25, hspace=0.38)  # fmt: skip
    return fig, axes


class SizeColours:
    """One discrete colour per model size (a sweep has a handful), ordered along the colormap, and a
    legend beside the panels naming each: a continuous colour bar suggests sizes that were not run."""

    def __init__(self, params):
        sizes = sorted(set(np.asarray(params, float)))
        cmap = plt.get_cmap(CMAP)
        self.colours = {p: cmap(i / max(len(sizes) - 1, 1) * 0.9) for i, p in enumerate(sizes)}

    def __call__(self, params):
        if np.ndim(params) == 0:
            return self.colours[float(params)]
        return [self.colours[float(p)] for p in params]

    def legend(self, fig, label="non-embedding\nparameters"):
        handles = [
            plt.Line2D([], [], marker="o", ls="", color=c, label=f"{p:,.0f}") for p, c in self.colours.items()
        ]
        anchor = (fig.subplotpars.right + 0.1 / fig.get_figwidth(), 0.5)
        fig.legend(handles=handles, title=label, loc="center left", fontsize=7, title_fontsize=7,
                   bbox_to_anchor=anchor, frameon=False)  # fmt: skip


def _sizes(frame: pd.DataFrame) -> list[str]:
    """The group keys (`analysis.groups`: task, data condition, size), one panel each, in order."""
    if "group" not in frame:
        return [str(s) for s in sorted(frame["task_size"].unique())]
    order = frame.drop_duplicates("group").sort_values(["family", "task_size"])
    return order["group"].tolist()


def _in(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame[frame["group"] == key] if "group" in frame else frame[frame["task_size"].astype(str) == key]


def _title(key: str) -> str:
    return f"size {key}" if "/" not in key else key.replace("/", ", size ")


def save(fig, path: Path) -> None:
    fig.savefig(path, dpi=100)
    plt.close(fig)


def training_curves(wide: pd.DataFrame, path: Path) -> None:
    """Loss (top) and exact accuracy (bottom) against training tokens, one column per size; colour
    = model size, one thin line per seed."""
    sizes = _sizes(wide)
    fig, axes = _panels(len(sizes), 2, sharey=False)  # per-size loss axes: one scale squashes the others
    colours = SizeColours(wide["params_nonembed"])
    for j, size in enumerate(sizes):
        for _, run in _in(wide[wide["step"] > 0], size).groupby("run_hash"):
            run = run.sort_values("tokens")
            colour = colours(run["params_nonembed"].iloc[0])
            axes[0, j].plot(run["tokens"], run["loss"], color=colour, lw=0.9, alpha=0.8)
            axes[1, j].plot(run["tokens"], run["exact"], color=colour, lw=0.9, alpha=0.8)
        axes[0, j].set(title=_title(size), xscale="log", yscale="log")
        axes[1, j].set(xscale="log", xlabel="training tokens", ylim=(-0.02, 1.02))
    axes[0, 0].set_ylabel("held-out loss (nats per answer token)")
    axes[1, 0].set_ylabel("exact-path accuracy")
    colours.legend(fig)
    save(fig, path)


def accuracy_vs_loss(points: pd.DataFrame, per_size: dict, artefact: dict, path: Path) -> None:
    """Top: exact accuracy against loss per size (colour = model size), the size's sigmoid with L*
    and its interval, and the artefact null's prediction (grey). Bottom: the null's prediction
    against the observed accuracy; points above the diagonal are what per-token loss leaves out."""
    sizes = _sizes(points)
    fig, axes = _panels(len(sizes), 2, sharey=False)
    colours = SizeColours(points["params_nonembed"])
    for j, size in enumerate(sizes):
        group, key = _in(points, size), size
        top, bottom = axes[0, j], axes[1, j]
        top.scatter(group["loss"], group["exact"], c=colours(group["params_nonembed"]), s=9)
        test = artefact.get(key, {}).get("loss", {})
        null = predicted_exact(group, test)
        if null is not None:
            top.scatter(group["loss"], null, s=5, color="0.55", marker="x", lw=0.6, label="artefact null")
            bottom.scatter(null, group["exact"], c=colours(group["params_nonembed"]), s=9)
        bottom.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
        _draw_sigmoid(top, group, per_size.get(key, {}).get("transition", {}))
        verdict = test.get("verdict", "not tested")
        top.set(title=_title(size), xlabel="held-out loss (nats per answer token)", ylim=(-0.02, 1.02))
        bottom.set(
            title=verdict, xlabel="null: predicted exact (P^a)", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02)
        )
    axes[0, 0].set_ylabel("exact-path accuracy")
    axes[1, 0].set_ylabel("observed exact")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    colours.legend(fig)
    save(fig, path)


def _draw_sigmoid(ax, group, tr: dict) -> None:
    if "threshold" not in tr:
        return
    grid = np.linspace(group["loss"].min(), group["loss"].max(), 200)
    sig = tr["floor"] + (tr["ceiling"] - tr["floor"]) / (1 + np.exp((grid - tr["threshold"]) / tr["width"]))
    ax.plot(grid, sig, color="black", lw=1.3, label="sigmoid fit")
    ax.axvline(tr["threshold"], color="crimson", ls="--", lw=1)
    if tr.get("threshold_ci"):
        ax.axvspan(*tr["threshold_ci"], color="crimson", alpha=0.12, lw=0)


def phase_diagram(final: pd.DataFrame, crossings: dict, path: Path, budget: dict | None = None) -> None:
    """Final exact accuracy over (parameters x group): the seed mean as colour, every seed's value
    (in seed order) written in the cell, and each group's fitted N*_50 (with its interval) on top.
    ``crossings``: group key -> the boundary's star_50 entry; ``budget``: group key -> the model
    sizes whose cells ended on their step cap (hatched: more training could raise them)."""
    final = final if "group" in final else final.assign(group=final["task_size"].astype(str), family="")
    rows = _sizes(final)
    table = final.pivot_table(index="group", columns="params_nonembed", values="exact", aggfunc="mean").loc[
        rows
    ]
    seeds = final.sort_values("seed").groupby(["group", "params_nonembed"])["exact"].apply(list)
    params = table.columns.to_numpy(float)
    edges = _log_edges(params)
    fig, ax = plt.subplots(figsize=(2.0 * len(params) + 2.8, 0.9 * len(rows) + 1.6))
    fig.subplots_adjust(left=1.4 / fig.get_figwidth(), bottom=0.9 / fig.get_figheight(), top=0.95)
    image = ax.pcolormesh(edges, np.arange(len(rows) + 1) - 0.5, table.to_numpy(), cmap="viridis", vmin=0,
                          vmax=1)  # fmt: skip
    for i, key in enumerate(rows):
        for p in params:
            values, mean = seeds.get((key, p), []), table.loc[key, p]
            if not np.isfinite(mean):
                continue
            text = f"{mean:.2f}\n" + "/".join(f"{v:.2f}" for v in values)
            ax.text(
                p, i, text, ha="center", va="center", fontsize=6.5, color="white" if mean < 0.6 else "black"
            )
        for p in (budget or {}).get(key, []):
            j = int(np.argmin(np.abs(params - p)))
            cell = plt.Rectangle((edges[j], i - 0.5), edges[j + 1] - edges[j], 1, fill=False, hatch="///",
                                 edgecolor="darkorange", lw=0)  # fmt: skip
            ax.add_patch(cell)
        _draw_crossing(ax, crossings.get(key, {}), i, edges)
    ax.set(xscale="log", xlabel="non-embedding parameters", ylabel="problem size")
    ax.set_yticks(range(len(rows)), [_title(k).removeprefix("size ") for k in rows])
    ax.set_xticks(params, [f"{p:,.0f}" for p in params], rotation=30, fontsize=8)
    ax.minorticks_off()
    fig.colorbar(image, label="final exact accuracy (seed mean; seeds in seed order in the cells)")
    save(fig, path)


def _log_edges(values: np.ndarray) -> np.ndarray:
    logs = np.log10(values)
    if len(logs) == 1:
        return 10 ** np.array([logs[0] - 0.5, logs[0] + 0.5])
    mids = (logs[1:] + logs[:-1]) / 2
    return 10 ** np.concatenate([[2 * logs[0] - mids[0]], mids, [2 * logs[-1] - mids[-1]]])


def _draw_crossing(ax, star: dict, row: int, edges) -> None:
    """N*_50 as a red diamond with its interval, or an arrow at the grid's edge for a bound."""
    if star.get("status") == "inside":
        lo, hi = star.get("ci", [star["value"]] * 2)
        lo, hi = min(max(lo, edges[0]), star["value"]), max(min(hi, edges[-1]), star["value"])
        hollow = {"mfc": "white"} if star.get("budget_limited") else {}  # could move with more training
        ax.errorbar(star["value"], row, xerr=[[star["value"] - lo], [hi - star["value"]]], fmt="D",
                    color="crimson", ms=6, capsize=3, label="N*_50", **hollow)  # fmt: skip
    elif star.get("status") in ("above grid", "below grid"):
        above = star["status"] == "above grid"
        budget = " (budget-limited)" if star.get("budget_limited") else ""
        where = (edges[-1] if above else edges[0], row + 0.32)
        ax.annotate(f"N*_50 {star['bound']}{budget}", xy=where, fontsize=7.5, color="darkred",
                    ha="right" if above else "left", va="center",
                    bbox={"boxstyle": "round", "fc": "white", "ec": "none", "alpha": 0.85})  # fmt: skip


def boundary_law(boundaries: dict[str, dict], path: Path) -> None:
    """s*_50 (and s*_90) against problem size on log-log axes, one panel per scale (parameters,
    compute), with intervals, bounds as arrows, and the fitted law with gamma's interval as a band."""
    fig, axes = _panels(len(boundaries), 1, sharey=False)
    for ax, (label, result) in zip(axes[0], boundaries.items()):
        for level, colour in (("50", "crimson"), ("90", "navy")):
            for size, entry in result["sizes"].items():
                _draw_star(ax, int(size), entry.get(f"star_{level}", {}), colour, entry.get("grid"))
            ax.plot([], [], "o", color=colour, label=f"{label}*_{level}")
        _draw_law(ax, result["law"], result["sizes"])
        ax.set(
            xscale="log", yscale="log", xlabel="problem size", ylabel=f"{label} for exact accuracy >= level"
        )
        sizes = [int(s) for s in result["sizes"]]
        if sizes:
            ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.minorticks_off()
        ax.legend(fontsize=7)
    save(fig, path)


def _draw_star(ax, size: int, star: dict, colour: str, grid) -> None:
    """A crossing with its interval clipped to the grid, or a bound as an open triangle."""
    if star.get("status") == "inside":
        lo, hi = star.get("ci", [star["value"]] * 2)
        lo, hi = (max(lo, grid[0]), min(hi, grid[1])) if grid else (lo, hi)
        lo, hi = min(lo, star["value"]), max(hi, star["value"])  # a percentile interval may miss the estimate
        err = [[star["value"] - lo], [hi - star["value"]]]
        hollow = {"mfc": "white"} if star.get("budget_limited") else {}  # could move with more training
        ax.errorbar(size, star["value"], yerr=err, fmt="o", color=colour, capsize=3, **hollow)
    elif star.get("status") == "above grid":
        ax.plot(size, star["lower_bound"], marker="^", color=colour, ms=8, mfc="none")
    elif star.get("status") == "below grid":
        ax.plot(size, star["upper_bound"], marker="v", color=colour, ms=8, mfc="none")


def _draw_law(ax, law: dict, sizes: dict) -> None:
    if law.get("form") != "power" or "A" not in law:
        return
    used = np.array(law["sizes_used"], float)
    grid = np.geomspace(min(int(s) for s in sizes), max(int(s) for s in sizes), 50)
    gamma = law["gamma"]
    ax.plot(grid, law["A"] * grid**gamma, color="black", lw=1.2, label=f"power law, gamma = {gamma:.2f}")
    if law.get("gamma_ci"):  # the band turns about the geometric mean of the sizes used
        pivot = np.exp(np.mean(np.log(used)))
        at_pivot = law["A"] * pivot**gamma
        lo, hi = (at_pivot * (grid / pivot) ** g for g in law["gamma_ci"])
        ax.fill_between(grid, np.minimum(lo, hi), np.maximum(lo, hi), color="black", alpha=0.1, lw=0)


def loss_vs_params(final: pd.DataFrame, fits: dict, path: Path) -> None:
    """Final loss against parameters, one panel per size, every run a point, the size's law."""
    sizes = _sizes(final)
    fig, axes = _panels(len(sizes), 1, sharey=False)
    for ax, size in zip(axes[0], sizes):
        group = _in(final, size)
        ax.scatter(group["params_nonembed"], group["loss"], s=14, color="tab:blue")
        fit = fits.get(size, {})
        if fit.get("params"):
            grid = np.geomspace(group["params_nonembed"].min(), group["params_nonembed"].max(), 100)
            ax.plot(
                grid, _predict(fit["form"], fit["params"], grid), color="black", lw=1.2, label=fit["form"]
            )
            ax.legend(fontsize=7)
        ax.set(title=_title(size), xscale="log", yscale="log", xlabel="non-embedding parameters")
    axes[0, 0].set_ylabel("final held-out loss (nats per answer token)")
    save(fig, path)


def _predict(form: str, p: dict, x: np.ndarray) -> np.ndarray:
    if form == "power":
        return p["A"] * x ** -p["alpha"]
    if form == "saturating":
        return p["E"] + p["A"] * x ** -p["alpha"]
    return np.full_like(x, np.nan)


def loss_vs_compute(points: pd.DataFrame, frontier: dict, path: Path) -> None:
    """Loss against training FLOPs for every evaluation point (colour = model size), the frontier
    (the least loss reached at each compute) and its fitted law, one panel per size."""
    sizes = _sizes(points)
    fig, axes = _panels(len(sizes), 1, sharey=False)
    colours = SizeColours(points["params_nonembed"])
    for ax, size in zip(axes[0], sizes):
        group = _in(points, size)
        ax.scatter(group["flops"], group["loss"], c=colours(group["params_nonembed"]), s=7)
        entry = frontier.get(size, {})
        if entry.get("frontier"):
            fx, fy = zip(*entry["frontier"])
            ax.step(fx, fy, where="post", color="crimson", lw=1, label="frontier")
        fit = entry.get("fit") or {}
        if fit.get("params"):
            grid = np.geomspace(min(fx), max(fx), 100)
            ax.plot(
                grid, _predict(fit["form"], fit["params"], grid), color="black", lw=1.2, label=fit["form"]
            )
        ax.set(title=_title(size), xscale="log", yscale="log", xlabel="training FLOPs")
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("held-out loss (nats per answer token)")
    colours.legend(fig)
    save(fig, path)


def exact_by_stratum(strata: dict, path: Path) -> None:
    """Final exact accuracy against detour (top) and decision count (bottom), one column per size,
    one line per model size (seed mean; points: each seed)."""
    sizes = list(strata)
    kinds = [k for k in ("detour", "decisions") if any(k in e for e in strata.values())]
    fig, axes = _panels(len(sizes), len(kinds), sharey=True)
    params = {float(p) for e in strata.values() for t in e.values() for p in t["models"]}
    colours = SizeColours(sorted(params))
    for j, size in enumerate(sizes):
        for i, kind in enumerate(kinds):
            ax, table = axes[i, j], strata[size].get(kind)
            xlabel = "detour (extra steps)" if kind == "detour" else "decisions on the path"
            ax.set(title=f"{_title(size)}, by {kind}", ylim=(-0.02, 1.02), xlabel=xlabel)
            if table is None:
                ax.text(0.5, 0.5, "not logged", ha="center", transform=ax.transAxes)
                continue
            for p, model in table["models"].items():
                ks = [int(k) for k, v in model["mean"].items() if v is not None]
                colour = colours(float(p))
                ax.plot(ks, [model["mean"][str(k)] for k in ks], "-", color=colour, lw=1.2)
                for k in ks:
                    ax.scatter([k] * len(model["seeds"][str(k)]), model["seeds"][str(k)], color=colour, s=6)
            ax.set_xticks(table["strata"])
    for i in range(len(kinds)):
        axes[i, 0].set_ylabel("final exact accuracy")
    colours.legend(fig)
    save(fig, path)


def depth_width(final: pd.DataFrame, depth: dict, path: Path) -> None:
    """Per size, final exact accuracy over depth x width (seed mean as colour, seeds in the cell),
    hatched where a run ended on its step cap, a red triangle at the smallest depth reaching 50%."""
    final = final.dropna(subset=["n_layers", "d_model"])
    sizes = [s for s in _sizes(final) if s in depth["groups"]]
    fig, axes = _panels(len(sizes), 1, sharey=False)
    for ax, size in zip(axes[0], sizes):
        rows = _in(final, size)
        table = rows.pivot_table(index="n_layers", columns="d_model", values="exact", aggfunc="mean")
        seeds = rows.sort_values("seed").groupby(["n_layers", "d_model"])["exact"].apply(list)
        limited = set(map(tuple, rows[rows["stop_reason"].eq("budget")][["n_layers", "d_model"]].to_numpy()))
        image = ax.pcolormesh(table.to_numpy(), cmap=CMAP, vmin=0, vmax=1)
        for i, layers in enumerate(table.index):
            for j, width in enumerate(table.columns):
                mean = table.loc[layers, width]
                if np.isfinite(mean):
                    text = f"{mean:.2f}\n" + "/".join(f"{v:.2f}" for v in seeds.get((layers, width), []))
                    ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=8,
                            color="white" if mean < 0.6 else "black")  # fmt: skip
                if (layers, width) in limited:
                    ax.add_patch(
                        plt.Rectangle((j, i), 1, 1, fill=False, hatch="///", edgecolor="darkorange", lw=0)
                    )
        for j, width in enumerate(table.columns):
            smallest = depth["groups"][size].get(str(int(width)), {}).get("smallest_50", {}).get("depth")
            if smallest in set(table.index.astype(int)):
                i = list(table.index.astype(int)).index(smallest)
                ax.plot(j + 0.5, i + 0.15, marker="^", color="crimson", mec="white", ms=7)
        ax.set_xticks(np.arange(len(table.columns)) + 0.5, [f"{int(w)}" for w in table.columns])
        ax.set_yticks(np.arange(len(table.index)) + 0.5, [f"{int(d)}" for d in table.index])
        ax.set(title=_title(size), xlabel="width (d_model)")
    axes[0, 0].set_ylabel("depth (layers)")
    fig.colorbar(image, ax=axes[0, -1], label="final exact accuracy (seed mean)")
    save(fig, path)
