"""Training and held-out batches: pure functions of (task, size, seed, step).

The data position of a run is its step: batch ``s`` is drawn from a generator seeded by
``(data_seed, s)``, so a resumed run sees exactly the batches it would have seen, with no state to
save. The held-out set is seeded by the task, its options and size only (not the run's seed), so
every cell of a task and size is scored on the same examples.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import IterableDataset

from search_scaling.tasks import Task, TaskBatch

EVAL_DOMAIN = 0xE7A1  # disjoint from training streams, whose keys are run-derived seeds


def train_batch(task: Task, size: int, data_seed: int, step: int, batch_size: int) -> TaskBatch:
    return task.generate(batch_size, size, np.random.default_rng([data_seed, step]))


def eval_batch(task: Task, size: int, n: int, seed: int) -> TaskBatch:
    return task.generate(n, size, np.random.default_rng([EVAL_DOMAIN, seed]))


def to_tensors(batch: TaskBatch, mask: np.ndarray) -> dict[str, torch.Tensor]:
    """tokens (the targets), mask, n_tokens and, for a batch read through other inputs
    (teacherless), ``inputs``."""
    out = {
        "tokens": torch.from_numpy(batch.tokens),
        "mask": torch.from_numpy(mask),
        "n_tokens": torch.tensor(int(batch.length.sum())),
    }
    if batch.inputs is not None:
        out["inputs"] = torch.from_numpy(batch.inputs)
    return out


class StepBatches(IterableDataset):
    """Batches ``start, start + 1, ..., total - 1`` with the loss mask for each step's progress."""

    def __init__(self, task: Task, size: int, data_seed: int, batch_size: int, total: int,
                 mask_mode: str, mask_switch: float, start: int = 0):  # fmt: skip
        super().__init__()
        self.task, self.size, self.data_seed, self.batch_size = task, size, data_seed, batch_size
        self.total, self.mask_mode, self.mask_switch, self.start = total, mask_mode, mask_switch, start

    def __iter__(self):
        for step in range(self.start, self.total):
            batch = train_batch(self.task, self.size, self.data_seed, step, self.batch_size)
            mask = batch.loss_mask(self.mask_mode, step / self.total, self.mask_switch)
            yield to_tensors(batch, mask)
