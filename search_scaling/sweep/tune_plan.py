"""What a hyperparameter search (`search-scaling tune`) searches: its groups of cells, each trial's
runs (the group's cells with the sampled values and the short budget), Tune's search space, and the
identity of a search. Pure functions of the spec, but for `check_metric` (one untrained evaluation
per task, to know the metric names)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from search_scaling.sweep.spec import SweepSpec
from search_scaling.sweep.tune_spec import TuneSpec
from search_scaling.training.spec import RunSpec

SUFFIX = "-tune"


@dataclass(frozen=True)
class Group:
    key: str  # the model, or model/task-size for per: cell
    cells: tuple[RunSpec, ...]  # one per problem size, at the full budget


def tune_groups(sweep: SweepSpec) -> list[Group]:
    tune = _required(sweep)
    first_seed = sweep.cells[0].seed
    groups: dict[str, list[RunSpec]] = {}
    for cell in sweep.cells:
        if cell.seed != first_seed:
            continue  # seeds are replicates: tuned once
        key = cell.model if tune.per == "model" else f"{cell.model}/{cell.task}-{cell.size}"
        if all(
            c.task != cell.task or c.size != cell.size or c.task_options != cell.task_options
            for c in groups.get(key, [])
        ):
            groups.setdefault(key, []).append(cell)
    return [Group(k, tuple(v)) for k, v in groups.items()]


def trial_specs(group: Group, config: dict, tune: TuneSpec, sweep_name: str) -> list[RunSpec]:
    """The runs of one trial: the group's cells with the sampled values and the short budget."""
    values = sampled_values(config, tune)
    kind, amount = tune.budget
    specs = []
    for cell in group.cells:
        spec = cell.with_(**values, sweep=sweep_name + SUFFIX)
        if kind == "steps" or (kind == "fraction" and cell.steps is not None):
            steps = amount if kind == "steps" else max(1, round(amount * cell.steps))
            spec = spec.with_(steps=steps, tokens=None)
        else:
            tokens = amount if kind == "tokens" else max(1, math.ceil(amount * cell.tokens))
            spec = spec.with_(steps=None, tokens=tokens)
        specs.append(spec)
    return specs


def baseline_values(group: Group, tune: TuneSpec) -> dict:
    """The spec's own values of the searched fields for this group (its first cell)."""
    return {k: getattr(group.cells[0], k) for k in tune.space}


def search_space(tune: TuneSpec) -> dict:
    """Tune's distributions (sampled by a seeded generator: a rerun draws the same values)."""
    from ray import tune as rt

    kinds = {
        "choice": lambda args: rt.choice(list(args)),
        "loguniform": lambda args: rt.loguniform(*args),
        "uniform": lambda args: rt.uniform(*args),
    }
    return {name: kinds[kind](args) for name, (kind, args) in tune.space.items()}


def sampled_values(config: dict, tune: TuneSpec) -> dict:
    """A trial's values, continuous ones rounded to 4 significant digits: run hashes and tables stay
    readable, and a value is the same whichever process prints it."""
    return {k: config[k] if tune.space[k][0] == "choice" else float(f"{config[k]:.4g}") for k in tune.space}


def _required(sweep: SweepSpec) -> TuneSpec:
    if sweep.tune is None:
        raise ValueError(
            f"{sweep.path}: no tune: section; add one (see sweeps/README.md) to search hyperparameters"
        )
    return sweep.tune


def check_metric(sweep: SweepSpec) -> None:
    """The objective must be a metric the tasks log: scored once with an untrained model on a few
    held-out examples per task, before any trial starts."""
    tune = _required(sweep)
    from search_scaling.models.transformer import Transformer
    from search_scaling.training.data import eval_batch
    from search_scaling.training.evaluate import evaluate

    seen = {}
    for cell in sweep.cells:
        key = (cell.task, json.dumps(cell.task_options, sort_keys=True), cell.size)
        if cell.task in {k[0] for k in seen} and key not in seen:
            continue  # one size per task is enough to know its metric names
        if key not in seen:
            batch = eval_batch(cell.task_obj, cell.size, 64, cell.eval_seed)
            seen[key] = set(evaluate(Transformer(cell.model_config), cell.task_obj, batch))
    for (task, _, _), names in seen.items():
        if tune.metric not in names:
            raise ValueError(
                f"{sweep.path}: tune.metric: {tune.metric!r} is not logged by task {task!r}; "
                f"it logs: {', '.join(sorted(names))}"
            )


def search_id(tune: TuneSpec, group: Group) -> str:
    """What makes two searches of a group the same: the tune section and the group's cells."""
    import dataclasses
    import hashlib

    payload = json.dumps(
        {"tune": dataclasses.asdict(tune), "cells": [c.run_hash for c in group.cells]},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
