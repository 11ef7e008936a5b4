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
from search_scaling.tasks import LOSS_MODES, Task, get_task

SCHEMA_VERSION = 1
PRECISIONS = ("auto", "32-true", "bf16-mixed")
NOT_HASHED = ("sweep",)


@dataclass(frozen=True)
class RunSpec:
    """One cell of a grid. Exactly one of ``steps`` / ``tokens`` sets the budget (tokens are real,
    non-padding tokens; they are turned into steps with the mean length of the held-out set).

    ``train_sampling`` (fixed | uniform | k2) mixes problem sizes up to ``size`` in training only;
    evaluation is always on the task as defined (its own sampling) at ``size``."""

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
    loss_mask: str = "answer_only"
    mask_switch: float = 0.5
    eval_points: int = 24
    eval_examples: int = 512
    precision: str = "auto"
    sweep: str = ""

    def __post_init__(self) -> None:
        problems = list(_field_problems(self))
        if problems:
            raise ValueError("invalid run spec: " + "; ".join(problems))
        self.task_obj.check_size(self.size)  # raises with the task's allowed range
        self.train_task  # noqa: B018 -- raises on an unknown sampling
        self.model_config  # noqa: B018 -- raises on unknown model names or bad overrides

    # -- identity ----------------------------------------------------------------------------------
    def hashed_fields(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in NOT_HASHED}

    @cached_property
    def run_hash(self) -> str:
        payload = json.dumps({"schema": SCHEMA_VERSION, **self.hashed_fields()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def derived_seed(self, purpose: str, *, data_only: bool = False) -> int:
        """A 63-bit seed for ``purpose``. ``data_only`` seeds depend on the task, its size and the
        seed but not on the model or optimiser, so every model size of a cell sees the same data."""
        keys = ("task", "task_options", "size", "seed", "train_sampling") if data_only else None
        values = self.hashed_fields() if keys is None else {k: getattr(self, k) for k in keys}
        return _seed({"purpose": purpose, **values})

    # -- resolved objects --------------------------------------------------------------------------
    @cached_property
    def task_obj(self) -> Task:
        return get_task(self.task, **self.task_options)

    @cached_property
    def train_task(self) -> Task:
        if self.train_sampling is None:
            return self.task_obj
        return get_task(self.task, **{**self.task_options, "sampling": self.train_sampling})

    @cached_property
    def model_config(self) -> ModelConfig:
        task = self.task_obj
        return model_config(
            self.model, task.vocab_size(self.size), task.max_len(self.size), **self.model_options
        )

    @property
    def eval_seed(self) -> int:
        """The held-out set's seed: the task, its options and size only, so every model size and
        seed of a task is scored on the same examples."""
        return _seed({"purpose": "eval", "task": self.task, "options": self.task_options, "size": self.size})

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


def _seed(values: dict) -> int:
    payload = json.dumps(values, sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(payload).digest()[:8], "little") >> 1


def _field_problems(spec: RunSpec):
    """Every problem with the plain fields, each naming the field and what is allowed."""
    if (spec.steps is None) == (spec.tokens is None):
        yield "set exactly one of steps / tokens (the budget)"
    for name in ("steps", "tokens", "batch_size", "eval_points", "eval_examples"):
        value = getattr(spec, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            yield f"{name} must be a positive integer, got {value!r}"
    if isinstance(spec.seed, bool) or not isinstance(spec.seed, int) or spec.seed < 0:
        yield f"seed must be a non-negative integer, got {spec.seed!r}"
    for name, lo, hi in (
        ("lr", 0.0, 10.0),
        ("min_lr_ratio", 0.0, 1.0),
        ("warmup", 0.0, 1.0),
        ("weight_decay", 0.0, 10.0),
        ("beta1", 0.0, 1.0),
        ("beta2", 0.0, 1.0),
        ("grad_clip", 0.0, math.inf),
        ("mask_switch", 0.0, 1.0),
    ):
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            yield f"{name} must be a number in [{lo}, {hi}], got {value!r}"
    if spec.loss_mask not in LOSS_MODES:
        yield f"loss_mask must be one of {list(LOSS_MODES)}, got {spec.loss_mask!r}"
    if spec.precision not in PRECISIONS:
        yield f"precision must be one of {list(PRECISIONS)}, got {spec.precision!r}"
    for name in ("task_options", "model_options"):
        if not isinstance(getattr(spec, name), dict):
            yield f"{name} must be a mapping, got {getattr(spec, name)!r}"
