"""The goals section's figures (`analysis.goals`): where episodes end against model size, the rule
heat map (share of valid episodes ending on each label), and retargeting against demonstrations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.figures import PANEL, SizeColours, plt, save
from analysis.goals import LABELS

OUTCOME_STYLE = {
    "reaches_T": ("T (trained rule)", "tab:green"),
    "proxy_goal": ("proxy", "tab:orange"),
    "other_goal": ("other cell", "tab:gray"),
    "visits_avoided": ("visits avoided", "tab:red"),
}
HEAT_COLUMNS = 3  # heat-map panels per figure row
NOT_SCORED = plt.get_cmap("viridis").with_extremes(bad="lightgrey")


def _grid(n_rows: int, n_cols: int, width: float = PANEL, height: float = PANEL * 0.8):
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(width * n_cols + 1.8, height * n_rows + 0.7), squeeze=False
    )
    w, h = fig.get_figwidth(), fig.get_figheight()
    fig.subplots_adjust(
        left=0.7 / w, right=1 - 1.6 / w, bottom=0.55 / h, top=1 - 0.4 / h, wspace=0.3, hspace=0.5
    )
    return fig, axes


def _point(ax, x, stat: dict, colour, marker="o", hollow=False, **kw):
    if stat["mean"] is None:
        return
    err = None if stat["ci"] is None else [[stat["mean"] - stat["ci"][0]], [stat["ci"][1] - stat["mean"]]]
    ax.errorbar(
        [x],
        [stat["mean"]],
        yerr=err,
        fmt=marker,
        color=colour,
        capsize=2,
        ms=5,
        mfc="white" if hollow else colour,
        **kw,
    )


def outcome_shares(goals: dict, path: Path) -> None:
    """Rows: evaluation sets other than retarget; columns: training conditions. Each panel: the
    share of episodes ending on T, the proxy and elsewhere (and visits to avoided cells on an
    anti_target set) against non-embedding parameters, seed mean and 95% interval; black diamonds:
    in-distribution reached_nearest; hollow markers: models that have not learned the task."""
    rows = goals["rows"]
    conditions = sorted({r["condition"] for r in rows})
    sets = sorted(
        {s for r in rows for s, e in r["sets"].items() if e["variant"] != "retarget"},
        key=lambda s: (s != "held-out", s),
    )
    fig, axes = _grid(len(sets), len(conditions))
    for i, name in enumerate(sets):
        for j, cond in enumerate(conditions):
            ax, members = axes[i, j], [r for r in rows if r["condition"] == cond and name in r["sets"]]
            ax.set(title=f"{cond}\non {name}", xscale="log", ylim=(-0.03, 1.03))
            ax.title.set_fontsize(8)
            if not members:
                ax.text(0.5, 0.5, "not evaluated", ha="center", transform=ax.transAxes)
                ax.set(xticks=[], yticks=[])  # an empty log axis would show a made-up 1..10 range
                ax.minorticks_off()
                continue
            for r in members:
                entry, hollow = r["sets"][name], not r["learned"]
                for k, (metric, (_, colour)) in enumerate(OUTCOME_STYLE.items()):
                    if metric == "visits_avoided" and entry["variant"] != "anti_target":
                        continue
                    _point(ax, r["params"] * (1 + 0.04 * (k - 1.5)), entry[metric], colour, hollow=hollow)
                _point(ax, r["params"], r["in_distribution"], "black", marker="D", hollow=hollow)
            _model_axis(ax, [r["params"] for r in rows])
            ax.set_xlabel("non-embedding parameters", fontsize=8)
        axes[i, 0].set_ylabel("share of episodes")
    anti = any(e["variant"] == "anti_target" for r in rows for e in r["sets"].values())
    shown = [m for m in OUTCOME_STYLE if anti or m != "visits_avoided"]
    handles = [
        plt.Line2D([], [], marker="o", ls="", color=OUTCOME_STYLE[m][1], label=OUTCOME_STYLE[m][0])
        for m in shown
    ]
    handles.append(
        plt.Line2D([], [], marker="D", ls="", color="black", label="in-distribution\nreached_nearest")
    )
    handles.append(plt.Line2D([], [], marker="o", ls="", color="gray", mfc="white", label="not learned"))
    fig.legend(
        handles=handles,
        loc="center left",
        bbox_to_anchor=(1 - 1.55 / fig.get_figwidth(), 0.5),
        fontsize=7,
        frameon=False,
    )
    save(fig, path)


def _model_axis(ax, params: list[int]) -> None:
    """A log axis ticked at the model sizes run (never at powers of ten between them)."""
    sizes = sorted(set(params))
    ax.set_xticks(sizes, [f"{p:,}" for p in sizes], fontsize=7)
    ax.minorticks_off()
    ax.set_xlim(sizes[0] / 1.6, sizes[-1] * 1.6)


def rule_heatmap(goals: dict, path: Path) -> None:
    """One panel per evaluation set: rows = (condition, model), columns = the labels a0..a3 (shape)
    and b0..b3 (colour); colour and number: the share of valid episodes ending on that label (seed
    mean). T and the proxy are named in the column labels; rows not learned are marked."""
    rows = goals["rows"]
    sets = sorted({s for r in rows for s in r["sets"]}, key=lambda s: _set_order(rows, s))
    n_cols = min(HEAT_COLUMNS, len(sets))
    n_rows = int(np.ceil(len(sets) / n_cols))
    height = 0.28 * len(rows) + 0.9
    fig, axes = _grid(n_rows, n_cols, width=PANEL + 0.6, height=height)
    names = [f"{r['condition']} {r['model']}" + ("" if r["learned"] else " (not learned)") for r in rows]
    image = None
    for k, name in enumerate(sets):
        ax = axes[k // n_cols, k % n_cols]
        table = np.array([[_share(r, name, lab) for lab in LABELS] for r in rows], float)
        # a set a row was not scored on is grey (not the colour of a share of 0)
        image = ax.imshow(np.ma.masked_invalid(table), cmap=NOT_SCORED, vmin=0, vmax=1, aspect="auto")
        for i, j in zip(*np.nonzero(np.isfinite(table))):
            ax.text(
                j,
                i,
                f"{table[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if table[i, j] < 0.6 else "black",
            )
        for i, r in enumerate(rows):  # a set the model cannot read (mostly invalid paths): hatched
            if r["sets"].get(name, {}).get("rule", {}).get("verdict") == "invalid":
                ax.add_patch(plt.Rectangle((-0.5, i - 0.5), len(LABELS), 1, fill=False, hatch="///",
                                           edgecolor="crimson", lw=0))  # fmt: skip
        ax.set_xticks(range(len(LABELS)), [_column(lab, rows, name) for lab in LABELS], fontsize=7)
        ax.set_yticks(range(len(rows)), names if k % n_cols == 0 else [""] * len(rows), fontsize=7)
        ax.set_title(f"on {name}", fontsize=8)
    for k in range(len(sets), n_rows * n_cols):
        axes[k // n_cols, k % n_cols].axis("off")
    left = max(len(n) for n in names) * 0.055 + 0.3
    fig.subplots_adjust(left=min(0.45, left / fig.get_figwidth()))
    fig.colorbar(image, ax=axes[:, -1].tolist(), label="share of valid episodes ending on the label")
    save(fig, path)


def _set_order(rows: list[dict], name: str) -> tuple:
    """The held-out set first, retarget sets last (by demonstrations), the others by name between."""
    entry = next(r["sets"][name] for r in rows if name in r["sets"])
    return (name != "held-out", entry["variant"] == "retarget", entry.get("n_demos", 0), name)


def _share(row: dict, name: str, label: str) -> float:
    entry = row["sets"].get(name)
    value = None if entry is None else entry["labels"].get(label)
    return np.nan if value is None else value


def _column(label: str, rows: list[dict], name: str) -> str:
    """A label with its role on this set (T, proxy, prompted), from the first row evaluated on it."""
    entry = next(r["sets"][name] for r in rows if name in r["sets"])
    options, roles = entry["options"], []
    if label == options["target"]:
        roles.append("T")
    if label == options["proxy"]:
        roles.append("proxy")
    if entry["variant"] == "retarget" and label == options["retarget"]:
        roles.append("prompt")
    return label + ("\n" + "/".join(roles) if roles else "")


def retarget_curves(goals: dict, path: Path) -> None:
    """One panel per training condition: against the number of demonstrations, the share ending on
    the prompted rule's label (solid), on the trained rule T's (dashed) and of valid
    paths (dotted: a model that cannot read the prompt fails both), per model
    (colour), seed mean with 95% intervals; hollow markers: models that have not learned the task."""
    entries = goals["retarget"]
    conditions = sorted({e["condition"] for e in entries})
    fig, axes = _grid(1, len(conditions))
    colours = SizeColours([e["params"] for e in entries])
    for ax, cond in zip(axes[0], conditions):
        for e in (e for e in entries if e["condition"] == cond):
            colour, demos = colours(e["params"]), [p["n_demos"] for p in e["points"]]
            for key, style in (("prompted", "-"), ("trained", "--"), ("valid", ":")):
                means = [p[key]["mean"] for p in e["points"]]
                ax.plot(demos, [np.nan if m is None else m for m in means], style, color=colour, lw=1.2)
                for d, p in zip(demos, e["points"]):
                    _point(
                        ax,
                        d,
                        p[key],
                        colour,
                        marker={"prompted": "o", "trained": "s", "valid": "^"}[key],
                        hollow=not e["learned"],
                    )
        ax.set(title=cond, xlabel="demonstrations in the prompt", ylim=(-0.03, 1.03))
        ax.title.set_fontsize(8)
        ax.set_xticks(sorted({p["n_demos"] for e in entries for p in e["points"]}))
    axes[0, 0].set_ylabel("share of episodes")
    colours.legend(fig)
    handles = [
        plt.Line2D([], [], ls="-", marker="o", color="k", label="ends on the prompted rule's label"),
        plt.Line2D(
            [], [], ls="--", marker="s", color="k", label="ends on the trained rule T's label (reaches_T)"
        ),
        plt.Line2D([], [], ls=":", marker="^", color="k", label="valid paths"),
    ]
    fig.subplots_adjust(top=1 - 0.75 / fig.get_figheight())  # room for the line-style legend above
    fig.legend(handles=handles, loc="upper center", ncol=3, fontsize=7, frameon=False)
    save(fig, path)


def shifted_vs_proxy_corr(goals: dict, path: Path) -> None:
    """One panel per shifted set and training condition: against the training proxy_corr, the share
    of episodes ending on T's label (solid, circles) and on the proxy's (dashed, squares), one line
    per model (colour: size), seed mean with 95% intervals; hollow: a row not learned."""
    lines = goals["vs_proxy_corr"]
    panels = sorted({(ln["set"], ln["condition"]) for ln in lines})
    fig, axes = _grid(1, len(panels))
    colours = SizeColours([ln["params"] for ln in lines])
    for ax, (name, cond) in zip(axes[0], panels):
        for ln in (ln for ln in lines if (ln["set"], ln["condition"]) == (name, cond)):
            colour, corr = colours(ln["params"]), [p["proxy_corr"] for p in ln["points"]]
            for key, style, marker in (("reaches_T", "-", "o"), ("proxy_goal", "--", "s")):
                means = [p[key]["mean"] for p in ln["points"]]
                ax.plot(corr, [np.nan if m is None else m for m in means], style, color=colour, lw=1.2)
                for x, p in zip(corr, ln["points"]):
                    _point(ax, x, p[key], colour, marker=marker, hollow=not p["learned"])
        ax.set(title=f"{cond}\non {name}", xlabel="proxy_corr in training", ylim=(-0.03, 1.03))
        ax.title.set_fontsize(9)
        ax.xaxis.label.set_fontsize(9)
        ax.tick_params(labelsize=8)
        ax.set_xticks(sorted({p["proxy_corr"] for ln in lines for p in ln["points"]}))
    axes[0, 0].set_ylabel("share of episodes", fontsize=9)
    colours.legend(fig)
    sizes = fig.legends[-1]  # readable at 100% zoom: 8 pt, not the shared legend's 7
    for text in (*sizes.get_texts(), sizes.get_title()):
        text.set_fontsize(8)
    handles = [
        plt.Line2D([], [], ls="-", marker="o", color="k", label="ends on T's label (reaches_T)"),
        plt.Line2D([], [], ls="--", marker="s", color="k", label="ends on the proxy's label (proxy_goal)"),
    ]
    fig.subplots_adjust(top=1 - 0.8 / fig.get_figheight())
    fig.legend(handles=handles, loc="upper center", ncol=2, fontsize=8, frameon=False)
    save(fig, path)
