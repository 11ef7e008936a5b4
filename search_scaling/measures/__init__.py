"""Mechanistic progress measures, logged as curves (split ``probe``) beside the held-out metrics.

`ProgressMeasures(spec, schedule)` is called by the run's evaluation at every evaluation step (or
every k-th, ``RunSpec.progress``) on a fixed *probe set* of `PROBE_EXAMPLES` examples (no more than
``eval_examples``: a spec that asks for a quick evaluation gets quick measures), drawn like the
held-out set (same task, options and size) from its own stream, so every model and seed of a task
is measured on the same examples. The measures of each task family, with their metric names,
are documented in `maze`, `families` and `graphs`; `analysis.progress.MAIN_MEASURE` names the one the
report sets beside accuracy.

Cost: the probes and the lens take one forward pass over the probe set (fused attention); the
attention scores a second one with explicit patterns over its first 64 examples (maze), so the
measures cost about as much as the teacher-forced half of an evaluation.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from search_scaling.measures.families import d3_measures, iteration_measures, recall_measures
from search_scaling.measures.graphs import graph_measures
from search_scaling.measures.maze import maze_measures
from search_scaling.tasks import Task, TaskBatch

PROBE_EXAMPLES = 256
PROBE_DOMAIN = 0x9B0E  # the probe set's stream, disjoint from the held-out set's (data.EVAL_DOMAIN)

MEASURES: dict[str, Callable] = {
    "maze": lambda model, task, batch: maze_measures(model, batch, task.tokenization),
    "maze_target": lambda model, task, batch: maze_measures(model, batch, task.tokenization),
    "parity": lambda model, task, batch: iteration_measures(model, batch, task.cot),
    "binary_copy": lambda model, task, batch: iteration_measures(model, batch, task.cot),
    "polynomial": lambda model, task, batch: iteration_measures(model, batch, task.cot),
    "d3": lambda model, task, batch: d3_measures(model, batch),
    "induction": lambda model, task, batch: recall_measures(model, batch),
    "assoc_recall": lambda model, task, batch: recall_measures(model, batch),
    "graph_search": lambda model, task, batch: graph_measures(model, batch),
    "path_star": lambda model, task, batch: graph_measures(model, batch),
}


def progress_every(value) -> int:
    """``RunSpec.progress`` as a period: 0 = off, 1 = every evaluation, k = every k-th."""
    if value is False or value == "off":
        return 0
    return 1 if value is True or value == "on" else int(value)


def probe_batch(task: Task, size: int, eval_seed: int, n: int = PROBE_EXAMPLES) -> TaskBatch:
    return task.generate(n, size, np.random.default_rng([PROBE_DOMAIN, eval_seed]))


class ProgressMeasures:
    """The progress measures of one run: ``measures(model, step)`` -> {metric: value}, empty when
    they are off, the task has none, or ``step`` is not one of the evaluations they run at."""

    def __init__(self, spec, schedule):
        every = progress_every(spec.progress)
        self.compute = MEASURES.get(spec.task) if every else None
        steps = sorted(schedule)
        self.due = set(steps[::every]) | {steps[-1]} if every else set()
        self.spec, self._batch = spec, None

    @property
    def batch(self) -> TaskBatch:
        if self._batch is None:  # drawn at the first use: a run that measures nothing pays nothing
            spec, n = self.spec, min(PROBE_EXAMPLES, self.spec.eval_examples)
            self._batch = probe_batch(spec.task_obj, spec.size, spec.eval_seed, n)
        return self._batch

    def __call__(self, model, step: int) -> dict[str, float]:
        if self.compute is None or step not in self.due:
            return {}
        was_training = model.training
        model.eval()
        try:
            return self.compute(model, self.spec.task_obj, self.batch)
        finally:
            model.train(was_training)


__all__ = ["MEASURES", "PROBE_EXAMPLES", "ProgressMeasures", "probe_batch", "progress_every"]
