"""Run a sweep on Ray: one Ray task per unfinished cell, `record_run` inside it.

Why Ray tasks and not Tune: every cell is an independent, content-addressed run whose resumption
is ours (checkpoint per run hash, ledger), so Tune's experiment state and `Tuner.restore` (which
cannot change the search space) add nothing; tasks reuse worker processes (torch is imported once
per worker, not once per trial), retry on worker death (`max_retries`) and on errors
(`retry_exceptions`), and accept fractional GPUs. A retried task carries the same owner id, so
the ledger lets it back in, and it resumes from the run's last checkpoint.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from search_scaling.store import Stores
from search_scaling.store.ledger import FINISHED
from search_scaling.sweep.spec import SweepSpec

STALE_AFTER_S = 30.0  # a "running" cell with no heartbeat for this long (3 beats) has lost its worker
BUSY_RETRY_S = 10.0


@dataclass(frozen=True)
class CellOutcome:
    run_hash: str
    status: str  # done | diverged | failed | busy (another live worker holds it) | skipped
    final: dict
    seconds: float


_WORKER_STORES: dict[tuple, Stores] = {}


def run_cell(spec_json: str, locations: tuple, owner: str, threads: int, checkpoint_every_s: float = 30.0):
    """The body of a Ray task (also callable in-process). ``locations`` = (root, ledger URL,
    tracking URI): plain strings travel to workers, which open (and keep) their own connections."""
    import torch

    from search_scaling.store import record_run
    from search_scaling.training import RunSpec

    torch.set_num_threads(max(1, threads))
    stores = _WORKER_STORES.setdefault(locations, Stores(*locations))
    spec = RunSpec.from_dict(__import__("json").loads(spec_json))
    start = time.perf_counter()
    result = record_run(spec, stores, owner=owner, stale_after_s=STALE_AFTER_S,
                        checkpoint_every_s=checkpoint_every_s)  # fmt: skip
    if result is None:
        row = stores.ledger.get(spec.run_hash)
        status = row["status"] if row and row["status"] in FINISHED else "busy"
        return CellOutcome(spec.run_hash, status if status == "busy" else "skipped", {}, 0.0)
    return CellOutcome(spec.run_hash, result.status, result.final, time.perf_counter() - start)


def warm_worker() -> None:
    """Import what a cell needs (torch, Lightning, the stores) once per worker process, while the
    driver waits: part of start-up, so the first cells are not slower than the rest."""
    import lightning  # noqa: F401

    from search_scaling.store import record_run  # noqa: F401


def prepare(sweep: SweepSpec, stores: Stores) -> list:
    """Driver-side set-up before any worker starts: ledger rows, the MLflow database, experiment
    and parent run (concurrent first use of a SQLite file races its migrations)."""
    stores.ledger.ensure(sweep.name, sweep.run_hashes)
    if stores.mirror is not None:
        try:
            stores.mirror.parent_run(sweep.name, {"cells": len(sweep.cells), "spec": sweep.path})
        except Exception as err:  # noqa: BLE001 -- MLflow down: the sweep still runs
            print(f"warning: MLflow unavailable ({err}); run `search-scaling mlflow-sync` later")
    statuses = stores.ledger.statuses(sweep.run_hashes)
    return [c for c in sweep.cells if statuses.get(c.run_hash) not in FINISHED]


def run_sweep(sweep: SweepSpec, stores: Stores, address: str | None = None, progress=None) -> Counter:
    """Run every unfinished cell; returns the final status counts over the whole sweep."""
    import ray

    todo = prepare(sweep, stores)
    if not todo:
        return stores.ledger.counts(sweep.run_hashes)
    if not ray.is_initialized():
        # A local Ray unless an address (or RAY_ADDRESS, as in `ray job submit`) names a cluster.
        ray.init(address=address or os.environ.get("RAY_ADDRESS"), include_dashboard=False,
                 log_to_driver=False, runtime_env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}})  # fmt: skip
    res = sweep.resources
    task = ray.remote(num_cpus=res.cpus, num_gpus=res.gpus, max_retries=sweep.retries,
                      retry_exceptions=True)(run_cell)  # fmt: skip
    lanes = min(sweep.max_concurrent, len(todo))
    warm = ray.remote(num_cpus=res.cpus, num_gpus=res.gpus)(warm_worker)
    ray.get([warm.remote() for _ in range(lanes)])
    driver = uuid.uuid4().hex[:8]
    queue, running, outcomes = list(todo), {}, []
    while queue or running:
        while queue and len(running) < sweep.max_concurrent:
            spec = queue.pop(0)
            owner = f"{sweep.name}:{driver}:{spec.run_hash}"
            locations = (stores.root, stores.ledger_url, stores.tracking_uri)
            args = (spec.to_json(), locations, owner, int(res.cpus), sweep.checkpoint_every_s)
            running[task.remote(*args)] = spec
        ready, _ = ray.wait(list(running), num_returns=1, timeout=2.0)
        for ref in ready:
            spec = running.pop(ref)
            outcome = _outcome(ray, ref, spec)
            if outcome.status == "busy":  # held by a worker of an earlier driver: wait until stale
                time.sleep(BUSY_RETRY_S)
                queue.append(spec)
                continue
            outcomes.append(outcome)
        if progress is not None:
            progress(stores.ledger.counts(sweep.run_hashes), outcomes, len(running))
    return stores.ledger.counts(sweep.run_hashes)


def _outcome(ray, ref, spec) -> CellOutcome:
    try:
        return ray.get(ref)
    except Exception as err:  # noqa: BLE001 -- retries exhausted: the ledger already says failed
        return CellOutcome(spec.run_hash, "failed", {"error": str(err)[:200]}, 0.0)
