"""The `Task` interface shared by the trainer, the evaluator and the sweep, and the task registry.

Conventions every task follows:

- ``generate(n, size, rng)`` returns a `TaskBatch`: int token ids ``[n, T]`` right-padded with the
  task's pad id, plus masks and boundaries. It is a pure function of (task options, size, rng).
- Loss masks mark *targets*: ``mask[i, t]`` says whether token ``t`` (predicted from the output at
  position ``t - 1``) counts in the loss. Position 0 is never a target.
- ``prompt_len[i]`` is the index of the first answer token: greedy decoding starts there.
  ``length[i]`` is the end of the scored span (exclusive).
- ``score(batch, completions)`` takes the tokens a model produced for positions
  ``prompt_len .. prompt_len + W - 1`` (``int[n, W]``) and returns per-example metric arrays
  (NaN where a metric does not apply to an example, e.g. a stratum it is not in).
- Token groups (optional): ``extras["token_group"]`` int[n, W] labels each answer token by its
  offset from ``prompt_len`` with a code; code ``i + 1`` is ``task.token_groups[i]`` and 0 is no
  group. The evaluator reports teacher-forced ``<group>_loss`` / ``<group>_acc`` for each.
- Strata (optional): ``task.stratum = (prefix, extras key)``; ``score`` adds ``exact_<prefix>_<k>``
  for each value k of ``extras[key]`` (exact accuracy within the stratum); ``task.extra_strata``
  holds further (prefix, key) pairs scored the same way (mazes: detour beside decisions).
- Format options (optional): ``task.format_defaults`` maps options that change how examples are
  written, not which examples are drawn (maze ``tokenization``), to their defaults. A run's options
  drop them at their default (`canonical_options`: runs recorded before the option keep their
  hash) and data seeds ignore them (`data_options`: every format sees the same examples).
- Summary metrics (optional): ``summary_metrics(metrics)`` derives metrics from the aggregated ones
  (e.g. a difference of two token-group accuracies); the evaluator adds them last.
- Model inputs (optional): ``TaskBatch.inputs`` is what the model reads where it differs from the
  targets ``tokens`` (teacherless training: the answer positions read a dummy token). Such a batch is
  decoded in parallel: the model never reads its own predictions, so one forward pass gives them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LOSS_MODES = ("full", "answer_only", "curriculum")
SIZE_SAMPLING = ("fixed", "uniform", "k2")


@dataclass(frozen=True)
class TaskBatch:
    """tokens int64[n, T]; answer_mask bool[n, T] (targets in the answer); prompt_len, length,
    size int64[n]; extras: per-example arrays a task's scorer needs (e.g. maze walls); inputs
    int64[n, T] or None: what the model reads, where it is not ``tokens`` (teacherless training)."""

    tokens: np.ndarray
    answer_mask: np.ndarray
    prompt_len: np.ndarray
    length: np.ndarray
    size: np.ndarray
    extras: dict = field(default_factory=dict)
    inputs: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def model_inputs(self) -> np.ndarray:
        """The tokens the model reads: ``inputs`` if the task sets them, else ``tokens``."""
        return self.tokens if self.inputs is None else self.inputs

    def subset(self, idx: np.ndarray) -> TaskBatch:
        """The examples ``idx`` (every per-example array, extras and inputs included)."""
        return TaskBatch(
            self.tokens[idx], self.answer_mask[idx], self.prompt_len[idx], self.length[idx], self.size[idx],
            {k: v[idx] for k, v in self.extras.items()}, None if self.inputs is None else self.inputs[idx],
        )  # fmt: skip

    def full_mask(self) -> np.ndarray:
        """Every real token after the first, plus the answer targets (which may include padding)."""
        pos = np.arange(self.tokens.shape[1])[None, :]
        return ((pos >= 1) & (pos < self.length[:, None])) | self.answer_mask

    def loss_mask(
        self, mode: str = "answer_only", progress: float = 1.0, switch_at: float = 0.5
    ) -> np.ndarray:
        """``full``, ``answer_only``, or ``curriculum``: answer-only until ``progress`` (fraction of
        training done) reaches ``switch_at``, then full."""
        if mode not in LOSS_MODES:
            raise ValueError(f"loss mask mode must be one of {list(LOSS_MODES)}, got {mode!r}")
        if mode == "full" or (mode == "curriculum" and progress >= switch_at):
            return self.full_mask()
        return self.answer_mask


class Task:
    """Base class: subclasses set the class attributes and implement `_generate_size`,
    `encode_example` and (optionally) `_score_extra`."""

    name: str = ""
    size_name: str = "size"
    size_range: tuple[int, int] = (1, 1)
    default_sampling: str = "fixed"
    primary_metric: str = "exact"
    pad_id: int = 0
    token_groups: tuple[str, ...] = ()
    stratum: tuple[str, str] | None = None
    extra_strata: tuple[tuple[str, str], ...] = ()
    format_defaults: dict = {}

    def __init__(self, sampling: str | None = None):
        self.sampling = sampling or self.default_sampling
        if self.sampling not in SIZE_SAMPLING:
            raise ValueError(
                f"{self.name}: sampling must be one of {list(SIZE_SAMPLING)}, got {self.sampling!r}"
            )

    # -- vocabulary ------------------------------------------------------------------------------
    def vocabulary(self, size: int) -> list[str]:
        raise NotImplementedError

    def vocab_size(self, size: int) -> int:
        return len(self.vocabulary(size))

    def max_len(self, size: int) -> int:
        """The longest sequence ``generate(..., size, ...)`` can produce: the model's n_ctx."""
        raise NotImplementedError

    # -- data ------------------------------------------------------------------------------------
    def check_size(self, size: int) -> None:
        lo, hi = self.size_range
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not lo <= size <= hi:
            raise ValueError(
                f"task {self.name!r}: {self.size_name} must be an integer in [{lo}, {hi}], got {size!r}"
            )

    def sample_sizes(self, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
        """Per-example problem size: ``fixed`` = size; ``uniform`` over [min, size]; ``k2``: P(k) ~ k^2."""
        if self.sampling == "fixed":
            return np.full(n, size, dtype=np.int64)
        ks = np.arange(self.size_range[0], size + 1)
        weights = ks.astype(float) ** 2 if self.sampling == "k2" else np.ones(len(ks))
        return rng.choice(ks, size=n, p=weights / weights.sum())

    def generate(self, n: int, size: int, rng: np.random.Generator) -> TaskBatch:
        self.check_size(size)
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"task {self.name!r}: number of examples must be a positive integer, got {n!r}")
        sizes = self.sample_sizes(n, size, rng)
        parts, order = [], []
        for k in np.unique(sizes):
            idx = np.nonzero(sizes == k)[0]
            parts.append(self._generate_size(len(idx), int(k), size, rng))
            order.append(idx)
        return _merge(parts, np.concatenate(order), self.pad_id)

    def _generate_size(self, n: int, k: int, size: int, rng: np.random.Generator) -> TaskBatch:
        """``n`` examples of problem size ``k``, padded to the width of the largest size ``size``."""
        raise NotImplementedError

    def encode_example(self, **inputs) -> list[int]:
        raise NotImplementedError

    # -- scoring ---------------------------------------------------------------------------------
    def score(self, batch: TaskBatch, completions: np.ndarray) -> dict[str, np.ndarray]:
        """Per-example metrics. Base: ``exact`` (whole answer span right) and ``token_acc``."""
        want, valid = answer_span(batch, completions.shape[1])
        got = completions[:, : want.shape[1]]
        hit = (got == want) | ~valid
        metrics = {
            "exact": hit.all(axis=1).astype(float),
            "token_acc": ((got == want) & valid).sum(axis=1) / np.maximum(valid.sum(axis=1), 1),
        }
        metrics.update(self._score_extra(batch, completions))
        for prefix, key in ((self.stratum,) if self.stratum else ()) + self.extra_strata:
            metrics.update(stratified(metrics["exact"], batch.extras[key], prefix))
        return metrics

    def _score_extra(self, batch: TaskBatch, completions: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    def summary_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Metrics derived from the aggregated held-out metrics (none by default)."""
        return {}


def stratified(values: np.ndarray, strata: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    """``exact_<prefix>_<k>``: the values of the examples in stratum k, NaN for the others, so a
    NaN-mean over any batching gives the mean within the stratum."""
    return {f"exact_{prefix}_{k}": np.where(strata == k, values, np.nan) for k in np.unique(strata)}


def answer_span(batch: TaskBatch, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The true answer tokens aligned with completions: (tokens int[n, W], valid bool[n, W])."""
    cols = batch.prompt_len[:, None] + np.arange(width)[None, :]
    valid = cols < batch.length[:, None]
    want = np.take_along_axis(batch.tokens, np.minimum(cols, batch.tokens.shape[1] - 1), axis=1)
    return np.where(valid, want, -1), valid


def token_groups(batch: TaskBatch, idx: np.ndarray) -> np.ndarray:
    """The task's answer-offset groups placed at their token positions, shifted like the targets
    (entry t labels token t + 1): int8[n, T-1]. The evaluation's group losses and the maze
    measures' query kinds read the same labels."""
    offsets = batch.extras["token_group"][idx]  # [n, W]
    n, width = batch.tokens[idx].shape
    cols = batch.prompt_len[idx][:, None] + np.arange(offsets.shape[1])[None, :]
    placed = np.zeros((n, width + offsets.shape[1]), dtype=np.int8)
    np.put_along_axis(placed, cols, offsets, axis=1)
    return placed[:, 1:width]


def _merge(parts: list[TaskBatch], order: np.ndarray, pad_id: int) -> TaskBatch:
    """Concatenate per-size parts (padding to a common width) and restore the sampled order."""
    if len(parts) == 1:
        return parts[0]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    width = max(p.tokens.shape[1] for p in parts)

    def cat(arrays, fill=None):
        if fill is not None:
            arrays = [np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill) for a in arrays]
        return np.concatenate(arrays)[inverse]

    extras = {k: cat([p.extras[k] for p in parts]) for k in parts[0].extras}
    inputs = None if parts[0].inputs is None else cat([p.inputs for p in parts], pad_id)
    return TaskBatch(
        cat([p.tokens for p in parts], pad_id),
        cat([p.answer_mask for p in parts], False),
        cat([p.prompt_len for p in parts]),
        cat([p.length for p in parts]),
        cat([p.size for p in parts]),
        extras,
        inputs,
    )
