"""Sweep specs: a YAML grid -> validated `SweepSpec` -> one `RunSpec` per cell.

    name: smoke
    tasks:                          # the task axis; each entry brings its own problem sizes
      - {task: maze, sizes: [3, 4, 5], options: {generator: dfs}}
    models: [L1-D8, L2-D16, L2-D32]
    seeds: [0, 1]
    grid: {lr: [1e-3, 3e-3]}        # more axes: any RunSpec field (product)
    zip: {model: [...], lr: [...]}  # axes paired element-wise instead (replaces those axes)
    training: {batch_size: 64}      # fixed RunSpec fields for every cell
    budget: {steps: 2000}           # or tokens: N | tokens_per_param: k | flops: C (iso-FLOP)
    resources: {cpus: 1, gpus: 0}   # per trial; fractional GPUs pack several runs on one GPU
    max_concurrent: 2
    retries: 2
    checkpoint_every_s: 30          # how often a cell checkpoints and flushes its curve (seconds)

Every problem is reported at once, each with the file, the field path and what is allowed, before
anything expensive starts.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from search_scaling.training.spec import RunSpec

TOP_LEVEL = ("name", "description", "tasks", "models", "seeds", "grid", "zip", "training", "budget",
             "resources", "max_concurrent", "retries", "checkpoint_every_s")  # fmt: skip
BUDGETS = ("steps", "tokens", "tokens_per_param", "flops")
AXIS_FIELDS = ("task", "size", "task_options", "model", "seed")  # set by tasks / models / seeds
NOT_TRAINING = (*AXIS_FIELDS, "steps", "tokens", "sweep")
RUN_FIELDS = tuple(f.name for f in fields(RunSpec) if f.name not in NOT_TRAINING)


class SpecError(ValueError):
    def __init__(self, path: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0


@dataclass(frozen=True)
class SweepSpec:
    name: str
    path: str
    cells: tuple[RunSpec, ...]
    resources: Resources = field(default_factory=Resources)
    max_concurrent: int = 2
    retries: int = 2
    description: str = ""
    checkpoint_every_s: float = 30.0

    @property
    def run_hashes(self) -> list[str]:
        return [c.run_hash for c in self.cells]


def load_sweep(path: str | Path) -> SweepSpec:
    path = str(path)
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise SpecError(path, ["file not found"]) from None
    except yaml.YAMLError as err:
        raise SpecError(path, [f"not valid YAML: {err}"]) from None
    return parse_sweep(raw, path)


def parse_sweep(raw, path: str = "<sweep>") -> SweepSpec:
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise SpecError(path, ["the top level must be a mapping with keys " + ", ".join(TOP_LEVEL)])
    problems += [f"{k}: unknown key; allowed: {', '.join(TOP_LEVEL)}" for k in raw if k not in TOP_LEVEL]
    name = raw.get("name")
    if not isinstance(name, str) or not name or any(c in name for c in "/\\= "):
        problems.append(f"name: required, a non-empty string without '/', '\\', '=' or spaces, got {name!r}")
    axes = _axes(raw, problems)
    budget = _budget(raw.get("budget"), problems)
    training = _training(raw.get("training", {}), problems)
    resources = _resources(raw.get("resources", {}), problems)
    max_concurrent = _positive_int(raw, "max_concurrent", 2, problems)
    retries = _positive_int(raw, "retries", 2, problems, minimum=0)
    every = raw.get("checkpoint_every_s", 30.0)
    if isinstance(every, bool) or not isinstance(every, (int, float)) or every < 0:
        problems.append(f"checkpoint_every_s: a number of seconds >= 0, got {every!r}")
    if problems:
        raise SpecError(path, problems)
    cells = _expand(axes, training, budget, name, problems)
    if problems:
        raise SpecError(path, problems)
    return SweepSpec(name, path, tuple(cells), resources, max_concurrent, retries, raw.get("description", ""),
                     float(every))  # fmt: skip


# -- pieces ------------------------------------------------------------------------------------------
def _axes(raw: dict, problems: list[str]) -> list[list[dict]]:
    """Each axis is a list of partial RunSpec field dicts; cells are their product."""
    tasks = []
    for i, entry in enumerate(_list(raw, "tasks", problems)):
        where = f"tasks[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"task", "sizes", "options"} or "task" not in entry:
            problems.append(f"{where}: must be a mapping with task, sizes and optional options")
            continue
        options = entry.get("options", {}) or {}
        sizes = entry.get("sizes")
        if not isinstance(sizes, list) or not sizes:
            problems.append(f"{where}.sizes: a non-empty list of problem sizes, got {sizes!r}")
            continue
        said = set()
        for j, size in enumerate(sizes):
            try:
                RunSpec(task=entry["task"], size=size, task_options=options, steps=1)
            except ValueError as err:
                if str(err) not in said:  # a bad option fails every size: say it once
                    said.add(str(err))
                    problems.append(f"{where}.sizes[{j}]: {err}")
                continue
            tasks.append({"task": entry["task"], "size": size, "task_options": options})
    models = []
    for i, model in enumerate(_list(raw, "models", problems)):
        try:
            RunSpec(model=model, size=3, steps=1)
        except ValueError as err:
            problems.append(f"models[{i}]: {err}")
        models.append({"model": model})
    seeds = [{"seed": s} for s in raw.get("seeds", [0])]
    axes = [tasks, models, seeds]
    zipped = raw.get("zip", {}) or {}
    for key, values in (raw.get("grid", {}) or {}).items():
        if key in zipped:
            problems.append(f"grid.{key}: also in zip; an axis is either a product or zipped")
        elif _check_field(f"grid.{key}", key, values, problems):
            axes.append([{key: v} for v in values])
    if zipped:
        lengths = {len(v) for v in zipped.values() if isinstance(v, list)}
        if len(lengths) != 1 or not all(isinstance(v, list) for v in zipped.values()):
            problems.append(f"zip: every entry must be a list of the same length, got {zipped!r}")
        else:
            for key in zipped:
                _check_field(f"zip.{key}", key, zipped[key], problems, allow=("model", "seed"))
            axes = [a for a in axes if not (a and set(a[0]) <= set(zipped))]
            axes.append([dict(zip(zipped, values)) for values in zip(*zipped.values())])
    return axes


def _check_field(where: str, key: str, values, problems: list[str], allow=()) -> bool:
    if key not in RUN_FIELDS and key not in allow:
        problems.append(f"{where}: not a training field; allowed: {', '.join(RUN_FIELDS)}")
        return False
    if not isinstance(values, list) or not values:
        problems.append(f"{where}: a non-empty list of values, got {values!r}")
        return False
    return True


def _list(raw: dict, key: str, problems: list[str]) -> list:
    value = raw.get(key)
    if not isinstance(value, list) or not value:
        problems.append(f"{key}: required, a non-empty list, got {value!r}")
        return []
    return value


def _budget(budget, problems: list[str]) -> dict:
    if not isinstance(budget, dict) or len(budget) != 1 or next(iter(budget)) not in BUDGETS:
        problems.append(f"budget: exactly one of {', '.join(BUDGETS)}, e.g. {{steps: 2000}}, got {budget!r}")
        return {}
    ((kind, value),) = budget.items()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        problems.append(f"budget.{kind}: a positive number, got {value!r}")
    return {kind: value}


def _training(training, problems: list[str]) -> dict:
    if not isinstance(training, dict):
        problems.append(f"training: a mapping of training fields, got {training!r}")
        return {}
    for key in training:
        if key not in RUN_FIELDS:
            problems.append(f"training.{key}: not a training field; allowed: {', '.join(RUN_FIELDS)}")
    return {k: v for k, v in training.items() if k in RUN_FIELDS}


def _resources(resources, problems: list[str]) -> Resources:
    if not isinstance(resources, dict) or set(resources) - {"cpus", "gpus"}:
        problems.append(f"resources: a mapping with cpus and/or gpus, got {resources!r}")
        return Resources()
    cpus, gpus = resources.get("cpus", 1.0), resources.get("gpus", 0.0)
    if not isinstance(cpus, (int, float)) or cpus <= 0:
        problems.append(f"resources.cpus: a positive number, got {cpus!r}")
    if not isinstance(gpus, (int, float)) or gpus < 0 or (gpus > 1 and gpus != int(gpus)):
        problems.append(f"resources.gpus: 0, a fraction in (0, 1] or a whole number, got {gpus!r}")
    return Resources(float(cpus), float(gpus))


def _positive_int(raw: dict, key: str, default: int, problems: list[str], minimum: int = 1) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"{key}: an integer >= {minimum}, got {value!r}")
        return default
    return value


def _expand(axes, training: dict, budget: dict, name: str, problems: list[str]) -> list[RunSpec]:
    cells, seen = [], set()
    for combo in itertools.product(*axes):
        fields_ = {k: v for part in combo for k, v in part.items()}
        where = ", ".join(f"{k}={v}" for k, v in fields_.items() if k != "task_options")
        try:
            spec = RunSpec(**{**training, **fields_}, steps=1, sweep=name)
            spec = _apply_budget(spec, budget)
        except (ValueError, TypeError) as err:
            problems.append(f"cell ({where}): {err}")
            continue
        if spec.run_hash not in seen:  # identical cells (e.g. a zipped duplicate) run once
            seen.add(spec.run_hash)
            cells.append(spec)
    return cells


def _apply_budget(spec: RunSpec, budget: dict) -> RunSpec:
    from search_scaling.models import flops_per_token, param_counts

    ((kind, value),) = budget.items()
    if kind == "steps":
        return spec.with_(steps=int(value))
    if kind == "tokens":
        return spec.with_(steps=None, tokens=int(value))
    if kind == "tokens_per_param":
        params = param_counts(spec.model_config)["params_nonembed"]
        return spec.with_(steps=None, tokens=math.ceil(value * params))
    return spec.with_(steps=None, tokens=math.ceil(value / flops_per_token(spec.model_config)))
