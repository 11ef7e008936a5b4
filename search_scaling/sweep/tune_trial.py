"""One trial of a hyperparameter search, in a Tune actor: its runs trained (or replayed from the
store) one after another, each held-out evaluation reported to Tune; a trial the scheduler stops
ends its run ``pruned``, with its curve flushed up to the stop."""

from __future__ import annotations

import contextlib
import json
import math

import lightning as L

from search_scaling.store import Stores
from search_scaling.store.ledger import FINISHED
from search_scaling.sweep.tune_plan import SUFFIX, Group, trial_specs
from search_scaling.sweep.tune_spec import TuneSpec
from search_scaling.training.spec import RunSpec

WORST = 1e9  # the objective of a diverged trial (Tune's schedulers do not take NaN)


class Pruned(Exception):
    """The scheduler stopped this trial."""


def run_trial(
    config: dict,
    *,
    group: Group,
    tune: TuneSpec,
    sweep_name: str,
    locations: tuple,
    threads: int,
    checkpoint_every_s: float,
) -> None:
    import torch
    from ray import tune as rt

    torch.set_num_threads(max(1, threads))
    stores = Stores(*locations)
    specs = trial_specs(group, config, tune, sweep_name)
    finals: list[float] = []
    stopped = []

    def emit(j: int, step: int, total: int, metrics: dict) -> None:
        if stopped:  # after a stop, Tune takes no more reports (the next one would block forever)
            raise Pruned
        value = _objective_value(metrics.get(tune.metric), tune.mode)
        pooled = sum([*finals, value]) / (len(finals) + 1)
        report = {
            "objective": pooled,
            "budget_pct": 100.0 * (j + step / total) / len(specs),
            "task_size": specs[j].size,
            "step": step,
            tune.metric: value,
        }
        try:
            rt.report(report)
        except SystemExit:  # how a function trainable learns that the scheduler stopped it
            stopped.append(step)
            raise Pruned from None

    owner = f"{sweep_name}{SUFFIX}:{group.key}:{json.dumps(config, sort_keys=True)}"
    for j, spec in enumerate(specs):
        final = _run_or_replay(spec, stores, owner, lambda *a, j=j: emit(j, *a), checkpoint_every_s)
        if final is None or stopped:
            return  # pruned (or stopped at its last report)
        finals.append(_objective_value(final.get(tune.metric), tune.mode))
        if finals[-1] in (WORST, -WORST):
            return  # diverged: the other sizes cannot rescue it


def _objective_value(value, mode: str) -> float:
    if value is None or not math.isfinite(value):
        return WORST if mode == "min" else -WORST
    return float(value)


def _run_or_replay(spec: RunSpec, stores: Stores, owner: str, emit, checkpoint_every_s: float) -> dict | None:
    """The run's final metrics, or None if the scheduler stopped it. Finished and pruned runs are
    replayed from the store first; an unfinished one is trained (a pruned one resumed)."""
    from search_scaling.store import record_run
    from search_scaling.training.run import plan_run

    total = plan_run(spec)[1]
    row = stores.ledger.get(spec.run_hash)
    status = row["status"] if row else None
    replayed = -1
    if status in (*FINISHED, "pruned"):
        evals = stored_evals(stores, spec)
        try:
            for step in sorted(s for s in evals if s > 0):
                emit(step, total, evals[step])
                replayed = step
        except Pruned:
            return None
        if status in FINISHED:
            return evals.get(max(evals), {}) if evals else {}
    reporter = TuneReporter(emit, after=replayed)
    result = record_run(
        spec, stores, owner=owner, checkpoint_every_s=checkpoint_every_s, callbacks=(reporter,)
    )
    if result is not None and result.status == "pruned":
        return None
    # The last evaluation is reported once the run is recorded finished: a stop at that report (the
    # scheduler's end of budget) may end the actor at once.
    evals = stored_evals(stores, spec)
    final = result.final if result is not None else (evals.get(max(evals), {}) if evals else {})
    with contextlib.suppress(Pruned):
        emit(result.steps if result is not None else total, total, final)
    return final


def stored_evals(stores: Stores, spec: RunSpec) -> dict[int, dict]:
    curves = stores.parquet.curves(sweep=spec.sweep, run_hash=spec.run_hash, with_runs=False)
    curves = curves[curves["split"] == "eval"]
    return {int(step): dict(zip(g["metric"], g["value"])) for step, g in curves.groupby("step")}


class TuneReporter(L.Callback):
    """Reports each held-out evaluation of a run to Tune, after flushing the curve up to it (so a
    trial the scheduler stops keeps its curve); a stop ends the run ``pruned``."""

    def __init__(self, emit, after: int = -1):
        self.emit, self.after = emit, after

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        from search_scaling.training.run import RunTracker

        tracker = next(cb for cb in trainer.callbacks if isinstance(cb, RunTracker))
        step = trainer.global_step
        if step <= self.after or step not in tracker.schedule or step == tracker.last_step:
            return  # the last evaluation is reported after the run is recorded finished
        if tracker.state["status"] != "running":
            return
        tracker.flush(trainer, step)
        self.after = step
        try:
            self.emit(step, tracker.last_step, tracker.metrics_at(step))
        except Pruned:
            if tracker.state["status"] == "running":
                tracker.stop_early(trainer, "pruned")
