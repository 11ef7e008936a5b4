"""Which runs may be pooled: a *group* is one task, one data condition and one problem size.

Runs of one task that differ in the data they train or evaluate on (task options such as the maze
generator, training-only options, size mixing in training, a transfer source) are different
experiments: pooling them in one sigmoid or one law mixes curves that need not agree. A *family* is
(task, condition): a law across problem sizes is fitted within one family, never across tasks.

Keys in fits.json name only what differs in the sweep: the size alone when every run shares its task
and condition (``"3"``), else ``"<task> <condition>/<size>"`` with the parts that vary.
"""

from __future__ import annotations

import json

import pandas as pd

# RunSpec fields that change the data a run sees (or where it starts from), in the order they are named.
CONDITION_FIELDS = ("task_options", "train_options", "train_sampling", "init_from")


def condition(spec: dict) -> str:
    """A run's data condition in words (``""`` for the defaults): ``generator=wilson, transfer``."""
    parts = []
    for name in CONDITION_FIELDS:
        value = spec.get(name)
        if not value:
            continue
        if name == "init_from":  # one source per seed is one design: "transfer", not a condition per run
            step = value.get("step")
            parts.append("transfer" + (f" from step {step}" if step is not None else ""))
        elif isinstance(value, dict):
            parts += [f"{k}={_short(v)}" for k, v in sorted(value.items())]
        else:
            parts.append(f"{name}={_short(value)}")
    return ", ".join(parts)


def _short(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def add_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns ``family`` (task and condition, named by what varies) and
    ``group`` (family and size): the keys every per-group result of the report uses."""
    frame = frame.copy()
    if "condition" not in frame:
        frame["condition"] = ""
    frame["condition"] = frame["condition"].fillna("")
    several_tasks = frame["task"].nunique() > 1
    several_conditions = frame[["task", "condition"]].drop_duplicates().groupby("task").size().max() > 1
    family = frame["task"].astype(str) if several_tasks else pd.Series("", index=frame.index)
    if several_conditions:
        family = (family + " " + frame["condition"].replace("", "default")).str.strip()
    frame["family"] = family
    size = frame["task_size"].astype(str)
    frame["group"] = size.where(family == "", family + "/" + size)
    return frame


def group_size(frame: pd.DataFrame, group: str) -> int:
    """The problem size of a group key."""
    return int(frame.loc[frame["group"] == group, "task_size"].iloc[0])
