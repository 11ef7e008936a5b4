"""What a running sweep's driver knows, in one value that the live display and the MLflow parent
run both read: the stage it is in (starting Ray, warming workers, running), the ledger's counts,
the outcomes so far and the best primary metric per task and problem size."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

FINISHED = ("done", "diverged")


@dataclass
class SweepState:
    sweep: object  # SweepSpec
    started: float = field(default_factory=time.perf_counter)
    stage: str = "reading the sweep"
    stage_since: float = field(default_factory=time.perf_counter)
    counts: Counter = field(default_factory=Counter)
    reused: int = 0  # cells finished before this run (skipped)
    to_run: int = 0
    running: int = 0
    outcomes: list = field(default_factory=list)
    best: dict = field(default_factory=dict)  # (task, size, metric) -> (value, run hash)
    startup_s: float | None = None  # until the first cell was submitted
    notes: list = field(default_factory=list)  # lines for people (warnings), in order
    experiment_id: str | None = None  # the sweep's MLflow experiment, once its parent run is up
    # run hash -> (last flushed step, its values, when first seen (step, time)): the cells in flight
    live: dict = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @property
    def total(self) -> int:
        return len(self.sweep.cells)

    @property
    def finished(self) -> int:
        return sum(self.counts.get(k, 0) for k in FINISHED)

    @property
    def by_hash(self) -> dict:
        return {c.run_hash: c for c in self.sweep.cells}

    def set_stage(self, stage: str) -> None:
        self.stage, self.stage_since = stage, time.perf_counter()
        if stage == "running" and self.startup_s is None:
            self.startup_s = self.elapsed

    def record_best(self, spec, final: dict) -> None:
        """Keep the best primary metric of ``spec``'s task and size (``final``: its last evaluation)."""
        metric = spec.task_obj.primary_metric
        value = final.get(metric)
        if value is None or value != value:
            return
        key = (spec.task, spec.size, metric)
        if key not in self.best or value > self.best[key][0]:
            self.best[key] = (float(value), spec.run_hash)

    def add_outcomes(self, outcomes: list) -> None:
        by_hash = self.by_hash
        for outcome in outcomes:
            self.outcomes.append(outcome)
            if outcome.status in FINISHED and outcome.run_hash in by_hash:
                self.record_best(by_hash[outcome.run_hash], outcome.final)

    def add_reused(self, runs) -> None:
        """Best values of cells finished before this run, from the store's runs table."""
        by_hash = self.by_hash
        for row in runs.itertuples(index=False):
            if row.run_hash in by_hash and row.status in FINISHED and isinstance(row.final_json, str):
                self.record_best(by_hash[row.run_hash], json.loads(row.final_json))

    def see_progress(self, run_hash: str, step: int, values: dict) -> None:
        """A running cell's latest curve flush (`ParquetStore.latest`); the first one seen is kept to
        measure its pace."""
        first = self.live.get(run_hash, (None, None, (step, time.perf_counter())))[2]
        self.live[run_hash] = (step, values, first)

    def eta_s(self, run_hash: str) -> float | None:
        """Seconds a running cell still needs at the pace seen since its first flush here; None while
        that pace is unknown or its budget is in tokens."""
        spec = self.by_hash.get(run_hash)
        step, _, (first_step, first_at) = self.live[run_hash]
        pace = (step - first_step) / max(time.perf_counter() - first_at, 1e-9)
        if spec is None or not spec.steps or pace <= 0:
            return None
        return max(0, spec.steps - step) / pace

    def best_values(self) -> dict:
        return {key: value for key, (value, _) in self.best.items()}
