"""The ``tune:`` and ``tuned:`` sections of a sweep spec.

    tune:
      space:                          # training fields -> a distribution
        lr: {loguniform: [1.0e-4, 3.0e-2]}
        batch_size: {choice: [32, 64, 128]}
        beta2: {uniform: [0.95, 0.999]}
      samples: 8                      # configurations per group (seeded: a rerun draws the same ones)
      per: model                      # model: one search per model size, pooled over problem sizes;
                                      # cell: one per model x problem size
      budget: {fraction: 0.1}         # of each cell's budget; or {steps: N} / {tokens: N}
      metric: loss                    # any held-out metric the task logs
      mode: min
      scheduler: {asha: {grace: 0.2, reduction_factor: 3}}   # or none
      max_concurrent: 2
      seed: 0
      baseline: true                  # also try the spec's own values first, to compare against

``search-scaling tune`` writes the best values back as a ``tuned:`` table (the tuned spec), which
`search-scaling sweep` applies to the matching cells; models without an entry get the learning rate
of the fitted law lr = a * N^b (N = non-embedding parameters), marked extrapolated in `validate`:

    tuned:
      entries:
        - {model: L1-D8, lr: 0.0061}            # per: model
        - {model: L2-D16, size: 4, lr: 0.0032}  # per: cell
      lr_law: {coefficient: 0.21, exponent: -0.31}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from search_scaling.training.spec import INT_MIN, NUMBER_RANGE, field_problem

TUNE_KEYS = (
    "space", "samples", "per", "budget", "metric", "mode", "scheduler", "max_concurrent", "seed", "baseline",
)  # fmt: skip
# Optimisation fields only: what a search may change without changing the task or the model.
TUNABLE = (*NUMBER_RANGE, "batch_size")
TUNABLE = tuple(f for f in TUNABLE if f not in ("mask_switch",))
DISTRIBUTIONS = ("loguniform", "uniform", "choice")
GROUPINGS = ("model", "cell")
TUNE_BUDGETS = ("fraction", "steps", "tokens")
MODES = ("min", "max")


@dataclass(frozen=True)
class Asha:
    grace: float = 0.2  # the first rung, as a fraction of the trial's budget
    reduction_factor: float = 3.0


@dataclass(frozen=True)
class TuneSpec:
    space: dict  # field -> (distribution, args)
    samples: int = 8
    per: str = "model"
    budget: tuple = ("fraction", 0.1)
    metric: str = "loss"
    mode: str = "min"
    scheduler: Asha | None = field(default_factory=Asha)
    max_concurrent: int = 2
    seed: int = 0
    baseline: bool = True  # one more trial per group with the spec's own values


@dataclass(frozen=True)
class Tuned:
    """Best values per model (``size`` None) or per model x problem size, and the LR law."""

    entries: tuple = ()  # of dicts: model, optional size, tuned fields
    lr_law: tuple | None = None  # (coefficient, exponent) of lr = coefficient * params_nonembed**exponent

    def lookup(self, model: str, size: int) -> dict:
        exact = [e for e in self.entries if e["model"] == model and e.get("size") == size]
        pooled = [e for e in self.entries if e["model"] == model and e.get("size") is None]
        best = (exact or pooled or [{}])[0]
        return {k: v for k, v in best.items() if k not in ("model", "size")}

    def law_lr(self, params_nonembed: int) -> float | None:
        if self.lr_law is None:
            return None
        coefficient, exponent = self.lr_law
        return coefficient * params_nonembed**exponent


def parse_tune(raw, problems: list[str]) -> TuneSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(f"tune: a mapping with keys {', '.join(TUNE_KEYS)}, got {raw!r}")
        return None
    said = len(problems)
    problems += [f"tune.{k}: unknown key; allowed: {', '.join(TUNE_KEYS)}" for k in raw if k not in TUNE_KEYS]
    space = _space(raw.get("space"), problems)
    samples = _int(raw, "samples", 8, 1, problems)
    per = raw.get("per", "model")
    if per not in GROUPINGS:
        problems.append(f"tune.per: one of {list(GROUPINGS)}, got {per!r}")
    budget = _tune_budget(raw.get("budget", {"fraction": 0.1}), problems)
    metric = raw.get("metric", "loss")
    if not isinstance(metric, str) or not metric:
        problems.append(f"tune.metric: the name of a held-out metric (e.g. loss, exact), got {metric!r}")
    mode = raw.get("mode", "min")
    if mode not in MODES:
        problems.append(f"tune.mode: one of {list(MODES)}, got {mode!r}")
    scheduler = _scheduler(raw.get("scheduler", {"asha": {}}), problems)
    max_concurrent = _int(raw, "max_concurrent", 2, 1, problems)
    seed = _int(raw, "seed", 0, 0, problems)
    baseline = raw.get("baseline", True)
    if not isinstance(baseline, bool):
        problems.append(f"tune.baseline: true or false, got {baseline!r}")
    if len(problems) > said:
        return None
    return TuneSpec(space, samples, per, budget, metric, mode, scheduler, max_concurrent, seed, baseline)


def _space(space, problems: list[str]) -> dict:
    if not isinstance(space, dict) or not space:
        problems.append(
            "tune.space: required, a mapping of training field -> distribution, e.g. "
            f"{{lr: {{loguniform: [1.0e-4, 3.0e-2]}}}}, got {space!r}"
        )
        return {}
    good = {}
    for name, dist in space.items():
        where = f"tune.space.{name}"
        if name not in TUNABLE:
            problems.append(f"{where}: not a tunable training field; allowed: {', '.join(TUNABLE)}")
            continue
        if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            problems.append(
                f"{where}: exactly one of {', '.join(DISTRIBUTIONS)}, e.g. "
                f"{{loguniform: [1.0e-4, 3.0e-2]}} or {{choice: [32, 64]}}, got {dist!r}"
            )
            continue
        ((kind, args),) = dist.items()
        problem = _distribution_problem(name, kind, args)
        if problem:
            problems.append(f"{where}.{kind}: {problem}")
        else:
            good[name] = (kind, tuple(args))
    return good


def _distribution_problem(name: str, kind: str, args) -> str | None:
    if not isinstance(args, list) or not args:
        return f"a non-empty list, got {args!r}"
    for value in args:
        if problem := field_problem(name, value):
            return problem
    if kind == "choice":
        return None if len(set(args)) == len(args) else f"values repeat: {args}"
    if name in INT_MIN:
        return f"{name} takes whole numbers: use choice, e.g. {{choice: [32, 64, 128]}}"
    if len(args) != 2:
        return f"[low, high], got {args!r}"
    low, high = args
    if not low < high:
        return f"an empty or reversed range [{low}, {high}]: low must be below high"
    if kind == "loguniform" and low <= 0:
        return f"a log-uniform range needs low > 0, got {low}"
    return None


def _tune_budget(budget, problems: list[str]) -> tuple:
    if not isinstance(budget, dict) or len(budget) != 1 or next(iter(budget)) not in TUNE_BUDGETS:
        problems.append(
            f"tune.budget: exactly one of {', '.join(TUNE_BUDGETS)}, e.g. {{fraction: 0.1}}, got {budget!r}"
        )
        return ("fraction", 0.1)
    ((kind, value),) = budget.items()
    if kind == "fraction":
        number = not isinstance(value, bool) and isinstance(value, (int, float))
        if not number or not math.isfinite(value) or not 0 < value <= 1:
            problems.append(
                f"tune.budget.fraction: a fraction of each cell's budget in (0, 1], got {value!r}"
            )
    elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(f"tune.budget.{kind}: a positive integer, got {value!r}")
    return (kind, value)


def _scheduler(scheduler, problems: list[str]) -> Asha | None:
    if scheduler in (None, "none"):
        return None
    if not isinstance(scheduler, dict) or set(scheduler) != {"asha"}:
        problems.append(
            f"tune.scheduler: none or {{asha: {{grace: 0.2, reduction_factor: 3}}}}, got {scheduler!r}"
        )
        return None
    options = {} if scheduler["asha"] is None else scheduler["asha"]
    if not isinstance(options, dict) or set(options) - {"grace", "reduction_factor"}:
        problems.append(f"tune.scheduler.asha: a mapping with grace and/or reduction_factor, got {options!r}")
        return None
    grace, factor = options.get("grace", 0.2), options.get("reduction_factor", 3.0)
    ok = True
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or not 0 < grace < 1:
        problems.append(
            f"tune.scheduler.asha.grace: the first rung as a fraction of the trial's budget, "
            f"in (0, 1), got {grace!r}"
        )
        ok = False
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 1:
        problems.append(f"tune.scheduler.asha.reduction_factor: a number > 1, got {factor!r}")
        ok = False
    return Asha(float(grace), float(factor)) if ok else None


def _int(raw: dict, key: str, default: int, minimum: int, problems: list[str]) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        problems.append(f"tune.{key}: an integer >= {minimum}, got {value!r}")
        return default
    return value


def parse_tuned(raw, problems: list[str]) -> Tuned:
    if raw is None:
        return Tuned()
    if not isinstance(raw, dict) or set(raw) - {"entries", "lr_law"}:
        problems.append(f"tuned: a mapping with entries and optional lr_law, got {raw!r}")
        return Tuned()
    entries = []
    for i, entry in enumerate(raw.get("entries") or []):
        where = f"tuned.entries[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
            problems.append(f"{where}: a mapping with model, optional size and tuned fields, got {entry!r}")
            continue
        bad = [
            f"{where}.{k}: not a tunable field; allowed: model, size, {', '.join(TUNABLE)}"
            for k in entry
            if k not in ("model", "size", *TUNABLE)
        ]
        bad += [f"{where}.{k}: {p}" for k, v in entry.items() if k in TUNABLE and (p := field_problem(k, v))]
        problems += bad
        if not bad:
            entries.append(dict(entry))
    return Tuned(tuple(entries), _lr_law(raw.get("lr_law"), problems))


def _lr_law(law, problems: list[str]) -> tuple | None:
    if law is None:
        return None
    ok = isinstance(law, dict) and set(law) >= {"coefficient", "exponent"}
    values = [law.get(k) for k in ("coefficient", "exponent")] if ok else []
    if (
        not ok
        or not all(
            not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in values
        )
        or values[0] <= 0
    ):
        problems.append(f"tuned.lr_law: {{coefficient: c > 0, exponent: b}} (lr = c * N^b), got {law!r}")
        return None
    return (float(values[0]), float(values[1]))
