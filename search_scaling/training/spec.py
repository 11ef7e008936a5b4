"""`RunSpec`: everything that determines one training run, validated, and its content hash.

A run is identified by ``run_hash`` = hash of the resolved spec (every field that changes what is
computed) plus `SCHEMA_VERSION`. ``sweep`` is bookkeeping only and is not hashed, so a cell
shared by two sweeps is one run.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property

from search_scaling.models import ModelConfig, model_config
from search_scaling.tasks import LOSS_MODES, Task, canonical_options, data_options, get_task
from search_scaling.tasks.base import SIZE_SAMPLING
from search_scaling.training import compiled, evalsets, interventions, transfer
from search_scaling.training import stop as stop_rules

SCHEMA_VERSION = 1
PRECISIONS = ("auto", "32-true", "bf16-mixed")
KEEP_CHECKPOINTS = ("none", "final", "log")
# What is logged or stored, not what is computed, is not part of a run's identity: kept weights
# (keep_checkpoints), and ``progress``, which only switches progress measures (extra curves) on or off
# (the same batches, weights and curves either way; tested), so runs recorded before it keep their hashes.
# ``compile`` chooses how the same computation is executed (eager or a compiled step): not part of
# the identity; the mode a run was trained in is recorded with it instead (runs table
# ``training_mode``, MLflow tag), see `compiled` and the README ("Compiled steps and packs").
NOT_HASHED = ("sweep", "keep_checkpoints", "progress", "compile")
PROGRESS = ("off", "on")  # or k: every k-th evaluation (YAML's bare off / on arrive as False / True)
# Fields added after runs were recorded: left out of the hash while at their default, so the
# identity (and the finished cells) of every earlier run is kept.
HASHED_UNLESS_DEFAULT = {
    "train_options": {}, "evals": [], "init_from": {}, "freeze": [], "stop": {}, "interventions": [],
}  # fmt: skip
# Part of the identity but not of any seed: a run with a stop rule or an intervention starts from
# the same weights and sees the same batches as the same run without it, so a comparison between
# them isolates the rule (it only ends sooner) or the intervention (a controlled experiment).
NOT_SEEDED = ("stop", "interventions")


@dataclass(frozen=True)
class RunSpec:
    """One cell of a grid. Exactly one of ``steps`` / ``tokens`` sets the budget (tokens are real,
    non-padding tokens; they are turned into steps with the mean length of the held-out set).

    ``train_sampling`` (fixed | uniform | k2) mixes problem sizes up to ``size`` in training only,
    and ``train_options`` override task options in training only (e.g. ``{endpoints: balanced}``:
    train on balanced mazes, evaluate on the task as defined); evaluation is always on the task as
    defined (its own options and sampling) at ``size``.

    ``evals`` adds named evaluation sets (`evalsets`: other task options and/or sizes, scored at
    every evaluation step as split ``eval:<name>``); ``init_from`` / ``freeze`` start from another
    run's kept weights with parts frozen (`transfer`); ``interventions`` clamp or ablate hook points
    over step windows during training, and a named set's ``ablate`` at evaluation (`interventions`);
    ``keep_checkpoints`` (none | final | log: every evaluation step) keeps model weights in the store
    (not hashed: it changes what is stored, not what is computed).

    ``progress`` (on | off | k) logs the mechanistic progress measures (`search_scaling.measures`) at
    every (k-th) evaluation (not hashed: it changes what is logged).

    ``compile`` (auto | on | off; `compiled`) compiles the training step; ``auto`` when the run is
    long enough to repay the compile (not hashed: the mode is recorded with the run).

    ``stop`` (`stop`: ``{target: {metric, value}, plateau: {metric, patience, min_delta,
    min_steps}}``) ends the run early when its held-out metric reaches a target or stops improving
    (in log-step); ``steps`` / ``tokens`` stay the cap."""

    task: str = "maze"
    size: int = 5
    model: str = "L2-D32"
    seed: int = 0
    steps: int | None = None
    tokens: int | None = None
    task_options: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)
    batch_size: int = 64
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: float = 0.02
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.98
    grad_clip: float = 1.0
    train_sampling: str | None = None
    train_options: dict = field(default_factory=dict)
    loss_mask: str = "answer_only"
    mask_switch: float = 0.5
    eval_points: int = 24
    eval_examples: int = 512
    precision: str = "auto"
    evals: list = field(default_factory=list)
    init_from: dict = field(default_factory=dict)
    freeze: list = field(default_factory=list)
    interventions: list = field(default_factory=list)
    keep_checkpoints: str = "none"
    stop: dict = field(default_factory=dict)
    progress: str | int = "on"
    compile: str = "auto"
    sweep: str = ""

    def __post_init__(self) -> None:
        # a format option at its default (maze tokenization: aotp) is not part of the identity
        object.__setattr__(self, "task_options", canonical_options(self.task, self.task_options))
        object.__setattr__(self, "compile", compiled.canonical(self.compile))  # YAML's bare on / off
        problems = list(_field_problems(self))
        if problems:
            raise ValueError("invalid run spec: " + "; ".join(problems))
        object.__setattr__(self, "evals", evalsets.canonical(self.evals))  # one spelling, one hash
        object.__setattr__(self, "init_from", transfer.canonical_source(self.init_from))
        object.__setattr__(self, "stop", stop_rules.canonical(self.stop))
        self.task_obj.check_size(self.size)  # raises with the task's allowed range
        self.eval_sets  # noqa: B018 -- raises on unknown options or sizes of a named set
        self.train_task  # noqa: B018 -- raises on an unknown sampling
        self.model_config  # noqa: B018 -- raises on unknown model names or bad overrides
        object.__setattr__(self, "freeze", transfer.check_freeze(self.freeze, self.model_config))
        object.__setattr__(self, "interventions", interventions.check_spec(self))  # and evals' ablate

    # -- identity ----------------------------------------------------------------------------------
    def hashed_fields(self) -> dict:
        return {
            k: v for k, v in asdict(self).items()
            if k not in NOT_HASHED and not (k in HASHED_UNLESS_DEFAULT and v == HASHED_UNLESS_DEFAULT[k])
        }  # fmt: skip

    @cached_property
    def run_hash(self) -> str:
        payload = json.dumps({"schema": SCHEMA_VERSION, **self.hashed_fields()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """How people see the cell: task-size model seed (``maze-3 L1-D8 s0``)."""
        return f"{self.task}-{self.size} {self.model} s{self.seed}"

    def derived_seed(self, purpose: str, *, data_only: bool = False) -> int:
        """A 63-bit seed for ``purpose``. ``data_only`` seeds depend on the task, its size and the
        seed but not on the model or optimiser, so every model size of a cell sees the same data."""
        keys = ("task", "task_options", "size", "seed", "train_sampling") if data_only else None
        if data_only and data_options(self.task, self.train_options):
            keys += ("train_options",)
        if keys is None:
            values = {k: v for k, v in self.hashed_fields().items() if k not in NOT_SEEDED}
        else:
            values = {k: getattr(self, k) for k in keys}
        if data_only:  # the same examples however they are written (format options left out)
            values.update({k: data_options(self.task, values[k]) for k in keys if k.endswith("_options")})
        return _seed({"purpose": purpose, **values})

    # -- resolved objects --------------------------------------------------------------------------
    @cached_property
    def task_obj(self) -> Task:
        return get_task(self.task, **self.task_options)

    @cached_property
    def train_task(self) -> Task:
        if self.train_sampling is None and not self.train_options:
            return self.task_obj
        sampling = {} if self.train_sampling is None else {"sampling": self.train_sampling}
        task = get_task(self.task, **{**self.task_options, **self.train_options, **sampling})
        task.check_size(self.size)
        return task

    @cached_property
    def eval_sets(self) -> list[evalsets.EvalSet]:
        return evalsets.resolve(self.task, self.task_options, self.size, self.evals)

    @cached_property
    def model_config(self) -> ModelConfig:
        task = self.task_obj
        if self.evals:  # the model must also read every named set (a larger size, a longer prompt)
            d_vocab, n_ctx = evalsets.model_shape(task, self.size, self.eval_sets)
            return model_config(self.model, d_vocab, n_ctx, **self.model_options)
        return model_config(
            self.model, task.vocab_size(self.size), task.max_len(self.size), **self.model_options
        )

    @property
    def eval_seed(self) -> int:
        """The held-out set's seed: the task, its options and size only, so every model size and
        seed of a task is scored on the same examples."""
        return held_out_seed(self.task, self.task_options, self.size)

    def total_steps(self, mean_len: float) -> int:
        if self.steps is not None:
            return self.steps
        return max(1, math.ceil(self.tokens / (self.batch_size * mean_len)))

    def with_(self, **changes) -> RunSpec:
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict, where: str = "run spec") -> RunSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**data)


def held_out_seed(task: str, options: dict, size: int) -> int:
    """The seed of a held-out set (a run's own, or a named one): task, options (less format
    options: every tokenization is scored on the same mazes) and size only."""
    return _seed({"purpose": "eval", "task": task, "options": data_options(task, options), "size": size})


def _seed(values: dict) -> int:
    payload = json.dumps(values, sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(payload).digest()[:8], "little") >> 1


# Allowed values of the plain fields: integers with their minimum, numbers with their range, choices.
INT_MIN = {"steps": 1, "tokens": 1, "batch_size": 1, "eval_points": 1, "eval_examples": 1, "seed": 0}
NUMBER_RANGE = {
    "lr": (0.0, 10.0),
    "min_lr_ratio": (0.0, 1.0),
    "warmup": (0.0, 1.0),
    "weight_decay": (0.0, 10.0),
    "beta1": (0.0, 1.0),
    "beta2": (0.0, 1.0),
    "grad_clip": (0.0, math.inf),  # 0 turns clipping off
    "mask_switch": (0.0, 1.0),
}
CHOICES = {"loss_mask": LOSS_MODES, "precision": PRECISIONS, "train_sampling": (None, *SIZE_SAMPLING),
           "keep_checkpoints": KEEP_CHECKPOINTS}  # fmt: skip
NAMES = ("task", "model")
MAPPINGS = ("task_options", "model_options", "train_options")


def field_problem(name: str, value) -> str | None:
    """What is wrong with ``value`` for the plain RunSpec field ``name``, naming the field and what
    is allowed; None if nothing is (or the field's check needs more than its value: size, names)."""
    if name in INT_MIN:
        lo = INT_MIN[name]
        if value is None and name in ("steps", "tokens"):
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            kind = "a positive integer" if lo == 1 else f"an integer >= {lo}"
            return f"{name} must be {kind}, got {value!r}"
    elif name in NUMBER_RANGE:
        lo, hi = NUMBER_RANGE[name]
        number = not isinstance(value, bool) and isinstance(value, (int, float))
        if not number or not math.isfinite(value) or not lo <= value <= hi:
            span = f"[{lo}, {hi}]" if math.isfinite(hi) else f"[{lo}, inf)"
            return f"{name} must be a number in {span}, got {value!r}"
    elif name in CHOICES and value not in CHOICES[name]:
        unset = " (or unset)" if None in CHOICES[name] else ""
        return f"{name} must be one of {[c for c in CHOICES[name] if c is not None]}{unset}, got {value!r}"
    elif name == "progress" and not (isinstance(value, bool) or value in PROGRESS
                                     or (type(value) is int and value >= 1)):  # fmt: skip
        return (f"progress must be one of {list(PROGRESS)} or a positive integer k (every k-th "
                f"evaluation), got {value!r}")  # fmt: skip
    elif name == "compile":
        return compiled.problem(value)
    elif name == "stop":
        return "; ".join(stop_rules.problems(value)) or None
    elif name in NAMES and not isinstance(value, str):
        return f"{name} must be a name (a string), got {value!r}"
    elif name == "interventions":
        return interventions.shape_problem(value)
    elif name in MAPPINGS and not isinstance(value, dict):
        return f"{name} must be a mapping, got {value!r}"
    return None


def _field_problems(spec: RunSpec):
    """Every problem with the plain fields, each naming the field and what is allowed."""
    if (spec.steps is None) == (spec.tokens is None):
        yield "set exactly one of steps / tokens (the budget)"
    for f in fields(spec):
        problem = field_problem(f.name, getattr(spec, f.name))
        if problem:
            yield problem
