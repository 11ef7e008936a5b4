"""Sweep specs: a YAML grid -> validated `SweepSpec` -> one `RunSpec` per cell.

    name: smoke
    tasks:                          # the task axis; each entry brings its own problem sizes
      - {task: maze, sizes: [3, 4, 5], options: {generator: dfs}}
    models: [L1-D8, L2-D16, L2-D32]
    seeds: [0, 1]
    grid: {lr: [1e-3, 3e-3]}        # more axes: any RunSpec field (product); interventions may be
                                    # named sets: {interventions: {none: [], prev: [{hook: ...}]}}
    zip: {model: [...], lr: [...]}  # axes paired element-wise instead (replaces those axes)
    training: {batch_size: 64}      # fixed RunSpec fields for every cell
    budget: {steps: 2000}           # or tokens: N | tokens_per_param: k | flops: C (iso-FLOP)
                                    # + stop: {target: {metric: exact, value: 0.99}, plateau: {metric:
                                    # loss, patience: 1, min_delta: 0.001}}: end a cell early
                                    # (search_scaling.training.stop); the budget stays the cap
    resources: {cpus: 1, gpus: 0}   # per trial; fractional GPUs pack several runs on one GPU
    max_concurrent: 2
    retries: 2                      # worker deaths, errors that can pass (not bugs: runner REPEATS)
    checkpoint_every_s: 30          # how often a cell checkpoints and flushes its curve (seconds)
    tune: {...}                     # hyperparameter search (`search-scaling tune`), see tune_spec
    tuned: {...}                    # its result: best values per model (size), applied to the cells
    pack: auto                      # off (default) | auto (where packs pay: GPUs) | on | N: same-shape
                                    # cells train as one stacked model (search_scaling.sweep.packs);
                                    # pack_memory_gb caps one pack

Every problem is reported at once, each with the file, the field path and what is allowed, before
anything expensive starts. Types are strict: integers are integers (``steps: 40.7`` is an error, not
40 steps), lists are lists, NaN and infinity are rejected, and a key repeated in one mapping is an
error (plain YAML keeps the last one silently). ``1e-3`` is read as a number (YAML 1.2), not text.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from search_scaling.sweep import sources
from search_scaling.sweep.tune_spec import Tuned, TuneSpec, parse_tune, parse_tuned
from search_scaling.tasks import get_task
from search_scaling.training import stop as stop_rules
from search_scaling.training.evalsets import NAME, position_problem
from search_scaling.training.evalsets import canonical as canonical_evals
from search_scaling.training.spec import RunSpec, field_problem

TOP_LEVEL = ("name", "description", "tasks", "models", "seeds", "grid", "zip", "training", "budget",
             "resources", "max_concurrent", "retries", "checkpoint_every_s", "tune", "tuned",
             "pack", "pack_memory_gb")  # fmt: skip
BUDGETS = ("steps", "tokens", "tokens_per_param", "flops")
INT_BUDGETS = ("steps", "tokens")
AXIS_FIELDS = ("task", "size", "task_options", "model", "seed")  # set by tasks / models / seeds
NOT_TRAINING = (*AXIS_FIELDS, "steps", "tokens", "stop", "sweep", "init_from")  # init_from: per task entry,
# stop: in the budget
TASK_KEYS = ("task", "sizes", "options", "evals", "init_from", "freeze", "interventions")
RUN_FIELDS = tuple(f.name for f in fields(RunSpec) if f.name not in NOT_TRAINING)
SELECTOR = "_init_from_selector"  # an axis key that is not a RunSpec field (taken out in _expand)
PACK_CHOICES = ("off", "auto", "on")  # or a number of runs per pack, up to MAX_PACK (`sweep.packs` plans)
PACK_SPELLINGS = {True: "on", False: "off", "yes": "on", "no": "off", "true": "on", "false": "off"}
MAX_PACK = 64
SET_NAME = "_interventions_name"  # the name of a named intervention set on the grid (also taken out)


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
    tune: TuneSpec | None = None
    tuned: Tuned = field(default_factory=Tuned)
    origins: dict = field(default_factory=dict)  # run hash -> {field: "tuned" | "extrapolated" | set name}
    pack: str | int = "off"  # off | auto | on | runs per pack
    pack_memory_gb: float | None = None

    @property
    def run_hashes(self) -> list[str]:
        return [c.run_hash for c in self.cells]


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that rejects a key repeated in one mapping (naming the key and both lines)
    and reads YAML 1.2 floats such as ``1e-3`` as numbers (YAML 1.1 reads them as text)."""

    def construct_mapping(self, node, deep=False):
        lines: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = lines.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: the base class says so
                break
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} on line {key_node.start_mark.line + 1} (first on "
                    f"line {first.line + 1}); a key may appear once", key_node.start_mark)  # fmt: skip
        return super().construct_mapping(node, deep)


StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_sweep(path: str | Path, lookup=None) -> SweepSpec:
    """``lookup(sweep_name) -> [RunSpec]`` finds another sweep's cells for ``init_from`` selectors
    that name one (`sources.store_lookup(stores)`)."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.load(f, Loader=StrictLoader)  # noqa: S506 -- a SafeLoader subclass
    except FileNotFoundError:
        raise SpecError(path, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(path, [f"cannot read it as a text file ({err})"]) from None
    except yaml.YAMLError as err:
        raise SpecError(path, [f"not valid YAML: {err}"]) from None
    return parse_sweep(raw, path, lookup)


def parse_sweep(raw, path: str = "<sweep>", lookup=None) -> SweepSpec:
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise SpecError(path, ["the top level must be a mapping with keys " + ", ".join(TOP_LEVEL)])
    problems += [f"{k}: unknown key; allowed: {', '.join(TOP_LEVEL)}" for k in raw if k not in TOP_LEVEL]
    name = raw.get("name")
    if not isinstance(name, str) or not name or any(c in name for c in "/\\= "):
        problems.append(f"name: required, a non-empty string without '/', '\\', '=' or spaces, got {name!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.append(f"description: a string, got {description!r}")
    axes = _axes(raw, problems)
    budget = _budget(raw.get("budget"), problems)
    training = _training({} if raw.get("training") is None else raw["training"], problems)
    resources = _resources(raw.get("resources", {}), problems)
    max_concurrent = _positive_int(raw, "max_concurrent", 2, problems)
    retries = _positive_int(raw, "retries", 2, problems, minimum=0)
    every = raw.get("checkpoint_every_s", 30.0)
    if not _finite(every) or every < 0:
        problems.append(f"checkpoint_every_s: a finite number of seconds >= 0, got {every!r}")
    tune = parse_tune(raw.get("tune"), problems)
    tuned = parse_tuned(raw.get("tuned"), problems)
    pack, pack_memory_gb = _pack(raw, problems)
    # Expand what is valid even when something else is not, so cell-level problems (a model option
    # a size cannot take, ...) are reported in the same pass as the rest.
    origins: dict = {}
    cells = _expand(axes, training, budget, name, problems, lookup, tuned, origins) if budget else []
    problems += _stop_metric_problems(cells)
    problems += _position_problems(cells)
    if not cells and not problems:
        problems.append("the sweep has no cells")
    if problems:
        raise SpecError(path, problems)
    return SweepSpec(name, path, tuple(cells), resources, max_concurrent, retries, description, float(every),
                     tune, tuned, origins, pack, pack_memory_gb)  # fmt: skip


# -- pieces: each appends its problems and returns only what is valid ---------------------------------
def _finite(value) -> bool:
    """A real number (not a bool, not NaN or infinity)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _axes(raw: dict, problems: list[str]) -> list[list[dict]]:
    """Each axis is a list of partial RunSpec field dicts; cells are their product."""
    axes = [_tasks(raw, problems), _models(raw, problems), _seeds(raw, problems)]
    zipped = _mapping(raw, "zip", problems, "{model: [L1-D8, L2-D16], lr: [1.0e-2, 3.0e-3]}")
    for key, values in _mapping(raw, "grid", problems, "{lr: [1.0e-3, 3.0e-3]}").items():
        if key in zipped:
            problems.append(f"grid.{key}: also in zip; an axis is either a product or zipped")
        elif key == "interventions" and isinstance(values, dict):
            axes.append(_named_sets(values, problems))
        else:
            axes.append([{key: v} for v in _values(f"grid.{key}", key, values, problems)])
    if zipped:
        columns = {k: _values(f"zip.{k}", k, v, problems, allow=("model", "seed")) for k, v in zipped.items()}
        lengths = {len(v) for v in zipped.values() if isinstance(v, list)}
        if len(lengths) > 1:
            problems.append(f"zip: every entry must be a list of the same length, got lengths "
                            f"{ {k: len(v) for k, v in zipped.items() if isinstance(v, list)} }")  # fmt: skip
        ok = len(lengths) == 1 and all(len(c) == len(zipped[k]) for k, c in columns.items())
        axes = [a for a in axes if not (a and set(a[0]) <= set(zipped))]
        axes.append([dict(zip(columns, values)) for values in zip(*columns.values())] if ok else [])
    return axes


def _named_sets(sets: dict, problems: list[str]) -> list[dict]:
    """``grid.interventions`` as named sets ``{name: [entries]}``: one cell per set, the name shown by
    `validate` (the entries, not the name, make the run hash)."""
    axis = []
    for name, entries in sets.items():
        where = f"grid.interventions.{name}"
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"{where}: a set name of 1-40 letters, digits, '_', '-' or '.', got {name!r}")
        elif problem := field_problem("interventions", entries):
            problems.append(f"{where}: {problem}")
        else:
            axis.append({"interventions": entries, SET_NAME: name})
    if not sets:
        problems.append("grid.interventions: a non-empty mapping of set name -> list of interventions")
    return axis


def _tasks(raw: dict, problems: list[str]) -> list[dict]:
    tasks = []
    for i, entry in enumerate(_list(raw, "tasks", problems)):
        where = f"tasks[{i}]"
        if not isinstance(entry, dict) or set(entry) - set(TASK_KEYS) or "task" not in entry:
            problems.append(f"{where}: a mapping with task, sizes and optional options, evals, init_from, "
                            f"freeze, interventions; got {entry!r}")  # fmt: skip
            continue
        extra = _entry_extras(entry, where, problems)
        if extra is None:
            continue
        options = {} if entry.get("options") is None else entry["options"]
        sizes = entry.get("sizes")
        if not isinstance(entry["task"], str):
            problems.append(f"{where}.task: a task name (a string), got {entry['task']!r}")
            continue
        if not isinstance(options, dict):
            problems.append(f"{where}.options: a mapping of task options, got {options!r}")
            continue
        try:  # the task and its options on their own, so their problems are said once, not per size
            get_task(entry["task"], **options)
        except (ValueError, TypeError) as err:  # TypeError: an option name that is not a string
            problems.append(f"{where}.{'task' if str(err).startswith('unknown task') else 'options'}: {err}")
            continue
        if not isinstance(sizes, list) or not sizes:
            problems.append(f"{where}.sizes: a non-empty list of problem sizes, got {sizes!r}")
            continue
        said = set()
        for j, size in enumerate(sizes):
            try:
                evals = _without_ablate(extra.get("evals", []))  # ablations are checked per model
                RunSpec(task=entry["task"], size=size, task_options=options, steps=1, evals=evals)
            except ValueError as err:
                if str(err) not in said:  # a bad option fails every size: say it once
                    said.add(str(err))
                    problems.append(f"{where}.sizes[{j}]: {err}")
                continue
            tasks.append({"task": entry["task"], "size": size, "task_options": options, **extra})
    return tasks


def _without_ablate(evals: list[dict]) -> list[dict]:
    """Named sets without their ablations (a set that is only an ablation left out): what can be
    checked before the model is known."""
    return [
        {k: v for k, v in e.items() if k != "ablate"} for e in evals if e["options"] or e["size"] is not None
    ]


def _entry_extras(entry: dict, where: str, problems: list[str]) -> dict | None:
    """A task entry's evals / freeze (RunSpec fields) and its init_from selector (resolved once
    every cell is known, `sources`); None after a problem."""
    extra = {k: entry[k] for k in ("evals", "freeze", "interventions") if entry.get(k) is not None}
    if "interventions" in extra and (problem := field_problem("interventions", extra["interventions"])):
        problems.append(f"{where}.{problem}")
        return None
    if "evals" in extra:
        try:
            extra["evals"] = canonical_evals(extra["evals"], f"{where}.evals")
        except ValueError as err:
            problems.append(str(err))
            return None
    if entry.get("init_from") is not None:
        selector = sources.check_selector(entry["init_from"], f"{where}.init_from", problems)
        if selector is None:
            return None
        extra[SELECTOR] = (selector, f"{where}.init_from")
    return extra


def _models(raw: dict, problems: list[str]) -> list[dict]:
    models = []
    for i, model in enumerate(_list(raw, "models", problems)):
        problem = _model_problem(model)
        if problem:
            problems.append(f"models[{i}]: {problem}")
        else:
            models.append({"model": model})
    return models


def _model_problem(model) -> str | None:
    try:
        RunSpec(model=model, size=3, steps=1)
    except ValueError as err:
        return str(err)
    return None


def _seeds(raw: dict, problems: list[str]) -> list[dict]:
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds:
        problems.append(f"seeds: a non-empty list of integers >= 0, e.g. [0, 1, 2], got {seeds!r}")
        return []
    bad = [f"seeds[{i}]: {p}" for i, s in enumerate(seeds) if (p := field_problem("seed", s))]
    problems += bad
    return [] if bad else [{"seed": s} for s in seeds]


def _values(where: str, key: str, values, problems: list[str], allow=()) -> list:
    """The valid values of a grid or zip axis (every bad one named: ``grid.lr[1]: lr must be ...``)."""
    if key not in RUN_FIELDS and key not in allow:
        problems.append(f"{where}: not a training field; allowed: {', '.join((*RUN_FIELDS, *allow))}")
        return []
    if not isinstance(values, list) or not values:
        problems.append(f"{where}: a non-empty list of values, got {values!r}")
        return []
    good = []
    for i, value in enumerate(values):
        problem = _model_problem(value) if key == "model" else field_problem(key, value)
        if problem:
            problems.append(f"{where}[{i}]: {problem}")
        else:
            good.append(value)
    return good


def _mapping(raw: dict, key: str, problems: list[str], example: str) -> dict:
    value = {} if raw.get(key) is None else raw[key]
    if not isinstance(value, dict):
        problems.append(f"{key}: a mapping of training field -> list of values, e.g. {example}, "
                        f"got {value!r}")  # fmt: skip
        return {}
    return value


def _list(raw: dict, key: str, problems: list[str]) -> list:
    value = raw.get(key)
    if not isinstance(value, list) or not value:
        problems.append(f"{key}: required, a non-empty list, got {value!r}")
        return []
    return value


def _budget(budget, problems: list[str]) -> dict:
    """``{kind: value}``, plus ``stop`` (the canonical stop rule) when the budget has one."""
    if isinstance(budget, dict) and "stop" in budget:
        found = stop_rules.problems(budget["stop"], "budget.stop")
        problems += found
        size = _budget({k: v for k, v in budget.items() if k != "stop"}, problems)
        return {**size, "stop": stop_rules.canonical(budget["stop"])} if size and not found else {}
    if not isinstance(budget, dict) or len(budget) != 1 or next(iter(budget)) not in BUDGETS:
        problems.append(f"budget: exactly one of {', '.join(BUDGETS)} (and optionally stop), e.g. "
                        f"{{steps: 2000}}, got {budget!r}")  # fmt: skip
        return {}
    ((kind, value),) = budget.items()
    if kind in INT_BUDGETS and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        problems.append(f"budget.{kind}: a positive integer, got {value!r}")
        return {}
    if not _finite(value) or value <= 0:
        problems.append(f"budget.{kind}: a positive finite number, got {value!r}")
        return {}
    return {kind: value}


def _training(training, problems: list[str]) -> dict:
    if not isinstance(training, dict):
        problems.append(f"training: a mapping of training fields, got {training!r}")
        return {}
    good = {}
    for key, value in training.items():
        if key not in RUN_FIELDS:
            problems.append(f"training.{key}: not a training field; allowed: {', '.join(RUN_FIELDS)}")
        elif problem := field_problem(key, value):
            problems.append(f"training.{key}: {problem}")
        else:
            good[key] = value
    return good


def _resources(resources, problems: list[str]) -> Resources:
    """Per trial; whether the machine or cluster can ever offer them is checked when Ray is up
    (`search_scaling.sweep.resources`)."""
    resources = {} if resources is None else resources
    if not isinstance(resources, dict) or set(resources) - {"cpus", "gpus"}:
        problems.append(f"resources: a mapping with cpus and/or gpus, got {resources!r}")
        return Resources()
    cpus, gpus = resources.get("cpus", 1.0), resources.get("gpus", 0.0)
    said = len(problems)
    if not _finite(cpus) or cpus <= 0:
        problems.append(f"resources.cpus: a positive number of CPUs, got {cpus!r}")
    if not _finite(gpus) or gpus < 0 or (gpus > 1 and gpus != int(gpus)):
        problems.append(f"resources.gpus: 0, a fraction in (0, 1] or a whole number, got {gpus!r}")
    return Resources(float(cpus), float(gpus)) if len(problems) == said else Resources()


def canonical_pack_setting(value):
    """The ``pack`` setting as the user meant it: YAML 1.1 reads bare on / off / yes / no as
    booleans; true, yes and on mean ``on``, false, no and off ``off``."""
    if isinstance(value, bool) or (isinstance(value, str) and value.lower() in PACK_SPELLINGS):
        return PACK_SPELLINGS[value if isinstance(value, bool) else value.lower()]
    return value


def pack_setting_problem(value) -> str | None:
    value = canonical_pack_setting(value)
    if value in PACK_CHOICES:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PACK:
        return (f"pack: one of off, auto, on (or yes / no / true / false) or a number of runs per pack in "
                f"[1, {MAX_PACK}], got {value!r}")  # fmt: skip
    return None


def _pack(raw: dict, problems: list[str]) -> tuple[str | int, float | None]:
    pack, memory = canonical_pack_setting(raw.get("pack", "off")), raw.get("pack_memory_gb")
    problem = pack_setting_problem(pack)
    if problem:
        problems.append(problem)
    if memory is not None and (not _finite(memory) or memory <= 0):
        problems.append(f"pack_memory_gb: a positive number of GiB one pack may use, got {memory!r}")
        memory = None
    return ("off" if problem else pack), memory


def _positive_int(raw: dict, key: str, default: int, problems: list[str], minimum: int = 1) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"{key}: an integer >= {minimum}, got {value!r}")
        return default
    return value


def _expand(axes, training: dict, budget: dict, name: str, problems: list[str], lookup=None,
            tuned: Tuned | None = None, origins: dict | None = None) -> list[RunSpec]:  # fmt: skip
    tuned = tuned or Tuned()
    cells, seen, failed, pending = [], set(), {}, []
    for combo in itertools.product(*axes):
        fields_ = {k: v for part in combo for k, v in part.items()}
        selector = fields_.pop(SELECTOR, None)  # the cell's source: resolved once every cell is known
        set_name = fields_.pop(SET_NAME, None)
        where = ", ".join(
            f"{k}={v}" for k, v in fields_.items() if k not in ("task_options", "evals", "interventions")
        )
        where += f", interventions={set_name}" if set_name else ""
        try:
            spec = RunSpec(**{**training, **fields_}, steps=1, sweep=name)
            spec, origin = _apply_tuned(spec, tuned)
            origin = {**origin, "interventions": set_name} if set_name else origin
            spec = _apply_budget(spec, budget)
        except (ValueError, TypeError) as err:
            failed.setdefault(str(err), []).append(where)
            continue
        if selector is not None:
            pending.append((spec, *selector))
        elif spec.run_hash not in seen:  # identical cells (e.g. a zipped duplicate) run once
            seen.add(spec.run_hash)
            cells.append(spec)
            if origin and origins is not None:
                origins[spec.run_hash] = origin
    for err, where in failed.items():  # one line per distinct problem, not one per cell
        more = f" and {len(where) - 1} more cell(s)" if len(where) > 1 else ""
        problems.append(f"cell ({where[0]}){more}: {err}")
    sources.resolve(pending, cells, name, problems, lookup)
    return cells


def _stop_metric_problems(cells: list[RunSpec]) -> list[str]:
    """A stop rule on a metric the task does not log on its held-out set (one untrained evaluation
    per task and options, at the smallest size of the sweep: the names do not depend on the size
    but for the strata, which `stop.metric_problems` takes by family)."""
    smallest: dict[str, RunSpec] = {}
    for cell in (c for c in cells if c.stop):
        key = f"{cell.task} {cell.task_options}"
        if key not in smallest or cell.size < smallest[key].size:
            smallest[key] = cell
    out = []
    for cell in smallest.values():
        for problem in stop_rules.metric_problems(cell.stop, stop_rules.logged_metrics(cell), cell.task,
                                                  "budget.stop"):  # fmt: skip
            if problem not in out:
                out.append(problem)
    return out


def _position_problems(cells: list[RunSpec]) -> list[str]:
    """Named sets scored at positions the model never trained (`evalsets.position_problem`), once each."""
    out = []
    for cell in (c for c in cells if c.evals):
        problem = position_problem(cell.task_obj, cell.size, cell.eval_sets, cell.model_config.positional)
        where = f"{cell.task} size {cell.size}, model {cell.model}"
        if problem and not any(problem in p for p in out):
            out.append(f"cell ({where}): {problem}")
    return out


def _apply_tuned(spec: RunSpec, tuned: Tuned) -> tuple[RunSpec, dict]:
    """The tuned values of the cell's model (and size) override the spec's; a model without an entry
    gets the learning rate of the fitted law, marked extrapolated."""
    from search_scaling.models import param_counts

    values = tuned.lookup(spec.model, spec.size)
    if values:
        return spec.with_(**values), dict.fromkeys(values, "tuned")
    lr = tuned.law_lr(param_counts(spec.model_config)["params_nonembed"])
    if lr is None:
        return spec, {}
    return spec.with_(lr=float(f"{lr:.3g}")), {"lr": "extrapolated"}


def _apply_budget(spec: RunSpec, budget: dict) -> RunSpec:
    from search_scaling.models import flops_per_token, param_counts

    if "stop" in budget:
        spec = spec.with_(stop=budget["stop"])
        budget = {k: v for k, v in budget.items() if k != "stop"}
    ((kind, value),) = budget.items()
    if kind == "steps":
        return spec.with_(steps=int(value))
    if kind == "tokens":
        return spec.with_(steps=None, tokens=int(value))
    if kind == "tokens_per_param":
        params = param_counts(spec.model_config)["params_nonembed"]
        return spec.with_(steps=None, tokens=math.ceil(value * params))
    return spec.with_(steps=None, tokens=math.ceil(value / flops_per_token(spec.model_config)))
