"""Run a sweep on Ray: one Ray task per unfinished cell, `record_run` inside it.

Why Ray tasks and not Tune: every cell is an independent, content-addressed run whose resumption
is ours (checkpoint per run hash, ledger), so Tune's experiment state and `Tuner.restore` (which
cannot change the search space) add nothing; tasks reuse worker processes (torch is imported once
per worker, not once per trial), retry on worker death (`max_retries`) and on errors that can pass
(`retry_exceptions`), and accept fractional GPUs. A retried task carries the same owner id, so
the ledger lets it back in, and it resumes from the run's last checkpoint. A programming error
(`REPEATS`) is not retried: a seeded run draws the same data again and fails the same way (every
anti_target cell of the goals study failed three times, ~50 s each, before this rule).

Ctrl-C (or SIGTERM to the driver): the driver cancels its tasks (each worker ends its cell ``failed``
"interrupted" and removes its temporaries), then releases whatever cell a worker could not; a rerun
trains them again.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from search_scaling.store import Stores
from search_scaling.store.ledger import FINISHED, LostClaim
from search_scaling.store.recorder import STALE_AFTER_S
from search_scaling.store.sweep_run import SweepRun
from search_scaling.sweep import sources
from search_scaling.sweep.packs import check_memory, pack_gpus, plan_sweep
from search_scaling.sweep.ray_exit import sigterm_as_ctrl_c
from search_scaling.sweep.resources import check_resources
from search_scaling.sweep.spec import SweepSpec
from search_scaling.sweep.state import SweepState

BUSY_RETRY_S = 10.0
CANCEL_WAIT_S = 30.0  # how long a stopping driver waits for its workers to release their cells


@dataclass(frozen=True)
class CellOutcome:
    run_hash: str
    status: str  # done | diverged | failed | busy (another live worker holds it) | skipped
    final: dict
    seconds: float


_WORKER_STORES: dict[tuple, Stores] = {}

# Errors a retry repeats: bugs and bad values in a seeded, reproducible run. Everything else (worker
# death, OSError, RuntimeError such as CUDA out-of-memory, database locks) is retried. Arrow's
# errors subclass ValueError but can come from a file being replaced under a reader: retried.
REPEATS = (ValueError, TypeError, LookupError, AttributeError, AssertionError, NotImplementedError,
           ArithmeticError)  # fmt: skip


def repeats(err: BaseException) -> bool:
    """Whether a retry of the cell would fail the same way."""
    return isinstance(err, REPEATS) and not isinstance(err, pa.ArrowException)


def _failed_for_good(spec, err: BaseException) -> CellOutcome:
    """A cell that failed for good, returned rather than raised so Ray does not retry it (after a
    claim, the recorder has already marked it failed in the ledger and the runs table; nothing in
    `REPEATS` can be raised before one: the claim's errors are the database's). Packs still raise:
    their members fail together or apart, and a pack's retry may train them alone."""
    from search_scaling.sweep.ray_output import plain_error

    return CellOutcome(spec.run_hash, "failed", {"error": plain_error(err)}, 0.0)


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
    try:
        result = record_run(spec, stores, owner=owner, stale_after_s=STALE_AFTER_S,
                            checkpoint_every_s=checkpoint_every_s)  # fmt: skip
    except LostClaim:  # another worker holds the cell now: not an error, and not worth a retry
        result = None
    except Exception as err:
        if repeats(err):
            return _failed_for_good(spec, err)
        raise
    return _cell_outcome(stores, spec, result, time.perf_counter() - start)


def run_pack(spec_jsons: list[str], locations: tuple, owners: list[str], threads: int,
             checkpoint_every_s: float = 30.0) -> list:  # fmt: skip
    """The body of a pack's Ray task (`run_cell` for a pack): `record_pack` over its
    members; one `CellOutcome` per member. A pack of one runs as a solo cell."""
    import json

    import torch

    from search_scaling.store.pack_recorder import record_pack
    from search_scaling.training import RunSpec

    if len(spec_jsons) == 1:  # a pack of one is a solo run: no stacking overhead
        return [run_cell(spec_jsons[0], locations, owners[0], threads, checkpoint_every_s)]
    torch.set_num_threads(max(1, threads))
    stores = _WORKER_STORES.setdefault(locations, Stores(*locations))
    specs = [RunSpec.from_dict(json.loads(s)) for s in spec_jsons]
    start = time.perf_counter()
    results = record_pack(specs, stores, owners, stale_after_s=STALE_AFTER_S,
                          checkpoint_every_s=checkpoint_every_s)  # fmt: skip
    seconds = time.perf_counter() - start
    return [_cell_outcome(stores, spec, result, seconds) for spec, result in zip(specs, results)]


def warm_worker() -> None:
    """Import what a cell needs (torch, Lightning, the stores) once per worker process, while the
    driver waits: part of start-up, so the first cells are not slower than the rest."""
    import lightning  # noqa: F401

    from search_scaling.store import record_run  # noqa: F401


def prepare(sweep: SweepSpec, stores: Stores, parent: SweepRun | None = None) -> list:
    """Driver-side set-up before any worker starts: ledger rows, the MLflow database, experiment
    and parent run (concurrent first use of a SQLite file races its migrations). Returns the cells
    still to run."""
    stores.ledger.ensure(sweep.name, sweep.run_hashes)
    if stores.tracking_uri is not None:
        parent = parent or SweepRun(sweep, stores)
        parent.start()  # a failure is one warning, and the sweep still runs
    statuses = stores.ledger.statuses(sweep.run_hashes)
    return [c for c in sweep.cells if statuses.get(c.run_hash) not in FINISHED]


def run_sweep(sweep: SweepSpec, stores: Stores, address: str | None = None, progress=None,
              state: SweepState | None = None, parent: SweepRun | None = None) -> Counter:  # fmt: skip
    """Run every unfinished cell (one Ray task per pack of them, `sweep.packs`); returns the final
    status counts over the whole sweep. ``progress(state)`` is called at every change of ``state``
    (stage, counts, outcomes); the sweep's MLflow parent run follows the same changes."""
    check_memory(sweep)  # a pack that cannot fit: one error before any work
    state = state or SweepState(sweep)
    note = lambda line: _note(state, progress, line)  # noqa: E731
    parent = parent or SweepRun(sweep, stores, warn=note)

    def show(stage: str | None = None) -> None:
        if stage:
            state.set_stage(stage)
        statuses = stores.ledger.statuses(sweep.run_hashes)
        state.counts = Counter(statuses.get(h, "pending") for h in sweep.run_hashes)
        _see_running(stores, sweep, state, [h for h, status in statuses.items() if status == "running"])
        parent.update(state.counts, state.best_values())
        if progress is not None:
            progress(state)

    status = "FAILED"
    try:
        show("setting up the ledger and MLflow")
        todo = prepare(sweep, stores, parent)
        state.experiment_id = parent.experiment_id
        state.reused, state.to_run = len(sweep.cells) - len(todo), len(todo)
        if state.reused:
            state.add_reused(stores.parquet.runs(sweep=sweep.name))
        if todo:
            _run(sweep, stores, address, todo, state, show, note)
        else:
            show("nothing to run")
        counts = stores.ledger.counts(sweep.run_hashes)
        status = "FINISHED" if sum(counts[k] for k in FINISHED) == len(sweep.cells) else "FAILED"
        show("finished")
        return counts
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        parent.end(status)


def _see_running(stores: Stores, sweep: SweepSpec, state: SweepState, running: list[str]) -> None:
    """Step and loss of the cells in flight, from their latest curve flush (for the live view)."""
    for run_hash in list(state.live):
        if run_hash not in running:
            del state.live[run_hash]
    for run_hash in running:
        seen = stores.parquet.latest(sweep.name, run_hash)
        if seen is not None:
            state.see_progress(run_hash, *seen)


def _note(state: SweepState, progress, line: str) -> None:
    state.notes.append(line)
    if progress is None:
        print(line, flush=True)
    else:
        progress(state)


def _run(sweep: SweepSpec, stores: Stores, address: str | None, todo: list, state: SweepState, show,
         note) -> None:  # fmt: skip
    import ray

    units = plan_sweep(sweep, todo)  # one cell each with pack: off
    if sweep.pack != "off":
        note(f"sweep {sweep.name}: {len(todo)} cell(s) to run in {len(units)} pack(s)")
    if not ray.is_initialized():
        # A local Ray unless an address (or RAY_ADDRESS, as in `ray job submit`) names a cluster.
        address = address or os.environ.get("RAY_ADDRESS")
        show("starting Ray" if address in (None, "local") else f"connecting to Ray at {address}")
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}})  # fmt: skip
        from search_scaling.sweep.ray_output import ray_messages_to_log

        ray_messages_to_log()  # a killed worker's messages go to the log, not into the display
        cpus = ray.cluster_resources().get("CPU", 0)
        note(f"Ray: {ray.get_runtime_context().gcs_address} ({cpus:g} CPUs)")
    check_resources(sweep)  # an impossible request: one error now, not a wait forever at start-up
    res = sweep.resources
    task = ray.remote(num_cpus=res.cpus, num_gpus=res.gpus, max_retries=sweep.retries,
                      retry_exceptions=True)(run_cell if sweep.pack == "off" else run_pack)  # fmt: skip
    lanes = min(sweep.max_concurrent, len(units))
    show(f"warming {lanes} worker{'s' if lanes > 1 else ''}")
    warm = ray.remote(num_cpus=res.cpus, num_gpus=res.gpus)(warm_worker)
    ray.get([warm.remote() for _ in range(lanes)])
    driver = uuid.uuid4().hex[:8]
    queue, running = list(units), {}
    show("running")
    try:
        with sigterm_as_ctrl_c():
            _schedule(ray, task, sweep, stores, driver, queue, running, state, show)
    except KeyboardInterrupt:
        _stop(ray, running, stores, lambda spec: _owner(sweep, driver, spec))
        raise


def _owner(sweep: SweepSpec, driver: str, spec) -> str:
    return f"{sweep.name}:{driver}:{spec.run_hash}"


def _schedule(ray, task, sweep: SweepSpec, stores: Stores, driver: str, queue: list, running: dict,
              state: SweepState, show) -> None:  # fmt: skip
    """Keep ``max_concurrent`` tasks in flight until every queued unit (a pack of cells, or one
    cell) has an outcome."""
    told: set[str] = set()  # cells whose wait for a stale claim was already said
    while queue or running:
        while queue and len(running) < sweep.max_concurrent:
            # a transfer waits for its source
            unfinished = {c.run_hash for u in (*queue, *running.values()) for c in u}
            ready = [u for u in queue if not any(sources.waiting_on(c, unfinished) for c in u)]
            if not ready:
                break
            unit = ready[0]
            queue.remove(unit)
            running[_submit(task, sweep, stores, driver, unit)] = unit
        ready, _ = ray.wait(list(running), num_returns=1, timeout=2.0)
        for ref in ready:
            unit = running.pop(ref)
            done = _outcomes(ray, ref, unit)
            busy = tuple(spec for spec, outcome in zip(unit, done) if outcome.status == "busy")
            if busy:  # held by a worker of an earlier driver: wait until stale
                state.notes += [_waiting_line(stores, s) for s in busy if s.run_hash not in told]
                told.update(s.run_hash for s in busy)
                show()  # said before the wait, which may last up to STALE_AFTER_S
                time.sleep(BUSY_RETRY_S)
                queue.append(busy)
            state.add_outcomes([outcome for outcome in done if outcome.status != "busy"])
        state.running = sum(len(unit) for unit in running.values())
        show()


def _waiting_line(stores: Stores, spec) -> str:
    """Why a cell is not running yet: another driver's worker holds it (alive, or dead and not yet
    stale)."""
    import datetime as dt

    row = stores.ledger.get(spec.run_hash) or {}
    beat = row.get("heartbeat_at")
    if beat is not None and beat.tzinfo is None:
        beat = beat.replace(tzinfo=dt.timezone.utc)  # SQLite keeps UTC without its zone
    age = f"{(dt.datetime.now(dt.timezone.utc) - beat).total_seconds():.0f}s ago" if beat else "never"
    return (f"waiting for {spec.label} ({spec.run_hash}): held by {row.get('owner')!r}, last heartbeat "
            f"{age}; it is taken over once that heartbeat is {STALE_AFTER_S:.0f}s old (its worker died), "
            "or reused if it finishes")  # fmt: skip


def _submit(task, sweep: SweepSpec, stores: Stores, driver: str, unit: tuple):
    """One Ray task for ``unit``: `run_cell` (pack: off) or `run_pack`, whose GPU share grows with
    its members (`packs.pack_gpus`)."""
    res = sweep.resources
    locations = (stores.root, stores.ledger_url, stores.tracking_uri)
    if sweep.pack == "off":
        (spec,) = unit
        return task.remote(spec.to_json(), locations, _owner(sweep, driver, spec), int(res.cpus),
                           sweep.checkpoint_every_s)  # fmt: skip
    options = task.options(num_gpus=pack_gpus(res.gpus, len(unit)))
    return options.remote([s.to_json() for s in unit], locations, [_owner(sweep, driver, s) for s in unit],
                          int(res.cpus), sweep.checkpoint_every_s)  # fmt: skip


def _cell_outcome(stores: Stores, spec, result, seconds: float) -> CellOutcome:
    if result is None:
        row = stores.ledger.get(spec.run_hash)
        status = row["status"] if row and row["status"] in FINISHED else "busy"
        return CellOutcome(spec.run_hash, status if status == "busy" else "skipped", {}, 0.0)
    return CellOutcome(spec.run_hash, result.status, result.final, seconds)


def _stop(ray, running: dict, stores: Stores, owner_of) -> list[str]:
    """Ctrl-C: cancel the tasks in flight (in each worker a KeyboardInterrupt ends its cell
    "interrupted" and removes its temporaries), wait a little for them, then release the cells a
    worker did not. Returns the run hashes released here."""
    for ref in running:
        ray.cancel(ref)  # not force: the worker gets KeyboardInterrupt and cleans up
    ray.wait(list(running), num_returns=len(running), timeout=CANCEL_WAIT_S)
    return [spec.run_hash for unit in running.values() for spec in unit
            if stores.ledger.release(spec.run_hash, owner_of(spec), "interrupted")]  # fmt: skip


def _outcomes(ray, ref, unit: tuple) -> list[CellOutcome]:
    try:
        got = ray.get(ref)
        return got if isinstance(got, list) else [got]
    except Exception as err:  # noqa: BLE001 -- retries exhausted: the ledger already says failed
        from search_scaling.sweep.ray_output import plain_error

        return [CellOutcome(spec.run_hash, "failed", {"error": plain_error(err)}, 0.0) for spec in unit]
