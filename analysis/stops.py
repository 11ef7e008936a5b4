"""The stop rules in the report: which cells ended on their step cap, where that touches a boundary,
and the least compute that reaches a target accuracy per group (`analysis.budget` does the counting).

A run that ended on ``budget`` stopped at its last step with neither its target reached nor its loss
at a plateau: more training could have raised its accuracy. A crossing of the boundary can then only
move to fewer parameters (or less compute): one is flagged ``budget_limited`` when a budget-ended run
lies at or below the model size above it (or, for a bound beyond the grid, anywhere in the group).
Runs from before stop rules (no ``stop_reason``) count as unknown, never as budget-limited.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.budget import budget_limited, cell_compute_to_target

TARGETS = (0.5, 0.9)


def with_stop_reasons(final: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``final`` with each run's ``stop_reason`` from the runs table (null where the store has none)."""
    reasons = runs.get("stop_reason", pd.Series(None, index=runs.index, dtype=object))
    table = pd.DataFrame({"run_hash": runs["run_hash"], "stop_reason": reasons})
    return final.drop(columns="stop_reason", errors="ignore").merge(table, on="run_hash", how="left")


def stop_summary(final: pd.DataFrame) -> dict:
    """How the runs ended, and per group the model sizes (non-embedding parameters) of its
    budget-limited cells."""
    reasons = final["stop_reason"].fillna("unknown (no stop rules recorded)").value_counts()
    cells = budget_limited(final, by=("group", "params_nonembed"))
    limited = cells[cells["budget_limited"]]
    by_group = {g: sorted(int(p) for p in rows["params_nonembed"]) for g, rows in limited.groupby("group")}
    return {"stop_reasons": reasons.sort_index().to_dict(), "budget_limited": by_group}


def flag_budget_limited(boundary: dict, final: pd.DataFrame) -> None:
    """Mark every crossing of ``boundary`` (the report's, per family and scale) that a budget-ended
    run could move: ``budget_limited`` True on the crossing, the runs' model sizes on the size."""
    for key, result in boundary.items():
        family = key.partition(" (")[2].removesuffix(")")
        for size, entry in result["sizes"].items():
            rows = final[(final["family"] == family) & (final["task_size"].astype(str) == size)]
            ended = rows[rows["stop_reason"].eq("budget")]
            if ended.empty:
                continue
            entry["budget_limited_models"] = sorted({int(p) for p in ended["params_nonembed"]})
            scale = ended[result["scale"]].to_numpy(float)
            for level in ("50", "90"):
                star = entry.get(f"star_{level}", {})
                if _movable(star, scale):
                    star["budget_limited"] = True


def _movable(star: dict, scale: np.ndarray) -> bool:
    """Could more training of runs at these scale values move this crossing (to a smaller scale)?"""
    if star.get("status") == "above grid":
        return True
    if star.get("status") == "inside":
        return bool(np.any(scale <= star["bracket"][1] * (1 + 1e-9)))
    return False


def compute_to_target(curves: pd.DataFrame, final: pd.DataFrame, targets=TARGETS) -> dict:
    """Per group and target: the least training FLOPs over its models to reach the target exact
    accuracy, each model's cost the median over its seeds (a seed that never reached it counts as
    never: `analysis.budget.cell_compute_to_target`), with the model, its step and tokens, and the
    smaller models that did not reach it because their budget ran out (the least might be lower);
    or why none reached it."""
    cells = final[["run_hash", "group", "params_nonembed", "model"]]
    curves = curves.drop(columns=["group", "params_nonembed", "model"], errors="ignore").merge(
        cells, on="run_hash"
    )
    limited = budget_limited(final, by=("group", "params_nonembed")).set_index(["group", "params_nonembed"])
    out = {}
    for target in targets:
        table = cell_compute_to_target(curves, target, by=("group", "params_nonembed", "model"))
        for group, rows in table.groupby("group", sort=True):
            out.setdefault(group, {})[f"{int(100 * target)}"] = _cheapest(rows, limited.loc[group])
    return out


def _cheapest(cells: pd.DataFrame, limited: pd.DataFrame) -> dict:
    """The cell with the least median FLOPs to target, or why there is none."""
    reached = cells[~cells["censored"]]
    if reached.empty:
        stuck = [int(p) for p in cells["params_nonembed"] if limited.loc[p, "budget_limited"]]
        why = f"no model's median seed reached it ({len(cells)} model size(s))"
        if stuck:
            why += f"; budget-limited at {', '.join(f'{p:,}' for p in stuck)} parameters: more training might"
        return {"reached": False, "reason": why}
    best = reached.sort_values(["flops", "params_nonembed"]).iloc[0]
    # A smaller model cut off by its budget might have got there for less compute.
    cut = [int(p) for p, c in zip(cells["params_nonembed"], cells["censored"])
           if c and p < best["params_nonembed"] and limited.loc[p, "budget_limited"]]  # fmt: skip
    return {"reached": True, "flops": float(best["flops"]), "tokens": float(best["tokens"]),
            "step": float(best["step"]), "model": str(best["model"]),
            "params_nonembed": int(best["params_nonembed"]),
            "seeds_reached": f"{best['reached']}/{best['runs']}",
            "models_reaching": int(len(reached)), "models": int(len(cells)),
            "smaller_budget_limited": cut}  # fmt: skip


def flag_depth_budget(depth: dict, final: pd.DataFrame) -> None:
    """As `flag_budget_limited`, for the crossings in depth (`analysis.depth`), per group and width."""
    for group, widths in depth["groups"].items():
        for width, entry in widths.items():
            rows = final[(final["group"] == group) & (final["d_model"] == float(width))]
            ended = rows[rows["stop_reason"].eq("budget")]
            if ended.empty:
                continue
            entry["budget_limited_depths"] = sorted({int(d) for d in ended["n_layers"]})
            for level in ("50", "90"):
                if _movable(entry.get(f"star_{level}", {}), ended["n_layers"].to_numpy(float)):
                    entry[f"star_{level}"]["budget_limited"] = entry[f"smallest_{level}"][
                        "budget_limited"
                    ] = True
