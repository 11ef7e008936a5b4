"""Cells whose step budget is smaller than useful, for `validate` to warn about before anything runs:
fewer steps than evaluation points (the log-spaced schedule collapses onto repeated steps, so the
curve has fewer points than asked), or a warm-up shorter than one step (the learning rate starts at
its peak). A token budget becomes steps through the mean example length, which is how a model
with a thousand parameters ends with a few dozen steps under tokens_per_param."""

from __future__ import annotations

from collections import defaultdict


def short_budget_warnings(cells_and_steps: list[tuple]) -> list[str]:
    """``[(RunSpec, steps)]`` -> one warning per (model, reason), naming the steps and sizes."""
    groups: dict[tuple, list] = defaultdict(list)
    for cell, steps in cells_and_steps:
        if steps < cell.eval_points:
            groups[(cell.model, "eval_points", cell.eval_points)].append((cell, steps))
        if cell.warmup > 0 and round(cell.warmup * steps) < 1:
            groups[(cell.model, "warmup", cell.warmup)].append((cell, steps))
    lines = []
    for (model, reason, value), members in groups.items():
        span = _span(sorted({s for _, s in members}))
        sizes = sorted({c.size for c, _ in members})
        where = f"{members[0][0].task_obj.size_name} {_span(sizes)}, {len(members)} cell(s)"
        if reason == "eval_points":
            why = (f"fewer than eval_points {value}: evaluations fall on repeated steps, so the curve has "
                   f"fewer points than asked")  # fmt: skip
        else:
            why = f"warm-up {value:g} x steps is under one step: training starts at the peak learning rate"
        fix = "lower eval_points" if reason == "eval_points" else "raise warmup"
        lines.append(f"warning: {model} trains only {span} steps ({where}), {why}; raise the budget or {fix}")
    return lines


def _span(values: list[int]) -> str:
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"
