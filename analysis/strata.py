"""Final exact accuracy by stratum of the held-out set: by detour (``exact_detour_<d>``: paths d steps
longer than the Manhattan distance) and by decision count (``exact_dec_<k>``: paths with k cells that
offer a choice). Where a model fails, and whether size buys the long detours or only the short ones,
is read here, not in the overall accuracy. The maze evaluation writes a stratum only where the
held-out set has examples in it (`search_scaling.training.evaluate`), so strata differ between sizes.
"""

from __future__ import annotations

import re

import pandas as pd

KINDS = {"detour": "exact_detour_", "decisions": "exact_dec_"}


def stratum_columns(frame: pd.DataFrame, prefix: str) -> dict[int, str]:
    """{k: column} of the columns ``<prefix><k>``, in k order."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)$")
    found = {int(m.group(1)): c for c in frame.columns if (m := pattern.match(str(c)))}
    return dict(sorted(found.items()))


def by_stratum(final: pd.DataFrame) -> dict:
    """Per group and kind (detour, decisions): per model size (non-embedding parameters) the seed
    mean of final exact accuracy in each stratum, the seeds' values (in seed order), and which model
    is the largest. Empty where the store logged no stratum."""
    out = {}
    order = (
        final.drop_duplicates("group").sort_values(["family", "task_size"])["group"]
        if "family" in final
        else None
    )
    for group, rows in sorted(final.groupby("group", sort=False), key=lambda g: _position(order, g[0])):
        entry = {}
        for kind, prefix in KINDS.items():
            columns = stratum_columns(rows.dropna(axis=1, how="all"), prefix)
            if columns:
                entry[kind] = _table(rows, columns)
        if entry:
            out[group] = entry
    return out


def _position(order, group) -> int:
    """A group's place in the report's order (family, then size); as found when unknown."""
    return 0 if order is None else list(order).index(group)


def _table(rows: pd.DataFrame, columns: dict[int, str]) -> dict:
    models = {}
    for params, cell in rows.sort_values("seed").groupby("params_nonembed", sort=True):
        values = cell[list(columns.values())]
        models[str(int(params))] = {
            "model": str(cell["model"].iloc[0]),
            "mean": {str(k): _mean(values[c]) for k, c in columns.items()},
            "seeds": {str(k): [float(v) for v in values[c].dropna()] for k, c in columns.items()},
        }
    return {"strata": list(columns), "largest": max(models, key=int), "models": models}


def _mean(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.mean()) if len(values) else None
