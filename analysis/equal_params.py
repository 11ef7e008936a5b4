"""At equal parameters, does depth or width move the boundary? (issue 29)

In a depth x width grid some shapes have (nearly) the same non-embedding parameters: with 12 L D^2
per model, L4-D16 ~ L1-D32 and L8-D16 ~ L2-D32. For every such pair in a group (task, condition,
maze size) the report compares the deep-narrow shape with the shallow-wide one on final exact
accuracy: the difference of their seed means (deep minus wide), with a 95% Welch t interval over the
seeds (unequal variances, Welch-Satterthwaite degrees of freedom). Not a bootstrap: with 3 seeds a
shape, resampling seeds gives a percentile interval far too narrow (it can take only a handful of
distinct values and ignores that the spread itself is estimated from three numbers). The verdict
reads the interval only:

- ``depth``: the interval lies above zero (the deeper shape solves more mazes);
- ``width``: it lies below zero;
- ``neither resolved``: it contains zero (with 3 seeds an interval is wide; this is not evidence of
  no effect, and the page says so);
- ``both solved`` / ``both failed``: every run of both shapes is >= 0.9 / < 0.5 exact and the interval
  contains zero, so the pair cannot tell depth from width at this size (a ceiling or a floor, not a
  tie); a resolved difference above the ceiling still reads ``depth`` or ``width``;
- ``too few runs``: a shape has a single run (a failed or unfinished seed): one run has no spread,
  so no interval and no verdict is read (``ci`` is None).

A pair where a run of either shape ended on its step cap (``stop_reason == "budget"``) is marked
``budget_limited``: more steps could change the comparison.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from analysis.seed_intervals import welch_interval

TOLERANCE = 0.15  # parameters within 15% count as equal (12 L D^2 ignores norms and biases)
SOLVED, FAILED = 0.9, 0.5


def depth_or_width(final: pd.DataFrame) -> dict:
    """Per group, every equal-parameter pair of shapes and its verdict; ``summary`` counts the
    verdicts over all pairs. ``final`` needs group, run_hash, n_layers, d_model, params_nonembed,
    exact (and stop_reason where the store has it)."""
    final = final.dropna(subset=["n_layers", "d_model", "params_nonembed", "exact"])
    groups = {}
    for group, rows in final.groupby("group", sort=True):
        pairs = [_compare(rows, deep, wide) for deep, wide in _equal_pairs(rows)]
        if pairs:
            groups[group] = pairs
    verdicts = [p["verdict"] for pairs in groups.values() for p in pairs]
    summary = {v: verdicts.count(v) for v in sorted(set(verdicts))}
    return {"groups": groups, "summary": summary, "tolerance": TOLERANCE}


def _equal_pairs(rows: pd.DataFrame) -> list[tuple[tuple, tuple]]:
    """(deep shape, wide shape) pairs, shapes as (n_layers, d_model), with parameters within
    TOLERANCE of each other; the deep one has more layers and a smaller width."""
    shapes = rows.groupby(["n_layers", "d_model"])["params_nonembed"].median()
    pairs = []
    for (a, n_a), (b, n_b) in itertools.combinations(shapes.items(), 2):
        deep, wide = (a, b) if a[0] > b[0] else (b, a)
        if deep[0] > wide[0] and deep[1] < wide[1] and abs(np.log(n_a / n_b)) <= np.log1p(TOLERANCE):
            pairs.append((deep, wide))
    return sorted(pairs)


def _compare(rows: pd.DataFrame, deep: tuple, wide: tuple) -> dict:
    cells = {name: rows[(rows["n_layers"] == s[0]) & (rows["d_model"] == s[1])] for name, s in
             (("deep", deep), ("wide", wide))}  # fmt: skip
    exact = {name: cell["exact"].to_numpy(float) for name, cell in cells.items()}
    diff = float(exact["deep"].mean() - exact["wide"].mean())
    ci = welch_interval(exact["deep"], exact["wide"])
    ended = pd.concat(cells.values()).get("stop_reason", pd.Series(dtype=object))
    return {
        "deep": _name(deep), "wide": _name(wide),
        "params": {name: int(cell["params_nonembed"].median()) for name, cell in cells.items()},
        "exact": {name: [round(float(v), 4) for v in values] for name, values in exact.items()},
        "difference": diff, "ci": ci, "verdict": _verdict(exact, ci),
        "budget_limited": bool(ended.eq("budget").any()),
    }  # fmt: skip


def _verdict(exact: dict, ci: list[float] | None) -> str:
    if ci is not None and ci[0] > 0:
        return "depth"
    if ci is not None and ci[1] < 0:
        return "width"
    every = np.concatenate(list(exact.values()))
    if (every >= SOLVED).all():
        return "both solved"
    if (every < FAILED).all():
        return "both failed"
    return "too few runs" if ci is None else "neither resolved"


def _name(shape: tuple) -> str:
    return f"L{int(shape[0])}-D{int(shape[1])}"
