"""`record_pack`: `record_run` for a pack. Every member is claimed, beats, writes and finishes as
its own run (its own claim and attempt number, heartbeat thread, `Recorder`, runs row and status),
so the stores cannot tell a packed run from a solo one.

A member already finished, or held by another live worker, is left out of the pack. A member that
fails in its set-up is ended ``failed`` and the pack goes on without it; once the pack is done the
call raises, so that Ray retries the task (the retry finds the others finished and retries only
that member). An error in the pack's training ends every member still running ``failed``
(Ctrl-C: "interrupted") and propagates; a member whose claim was taken over stops alone.
"""

from __future__ import annotations

import contextlib

from search_scaling.store.ledger import Heartbeat, LostClaim
from search_scaling.store.recorder import (
    BEATS_PER_STALE,
    DEFAULT_SWEEP,
    STALE_AFTER_S,
    Recorder,
    Stores,
    describe,
    owner_id,
)


def record_pack(specs: list, stores: Stores, owners: list[str] | None = None, verbose: bool = False,
                stale_after_s: float = STALE_AFTER_S, **train_kwargs) -> list:  # fmt: skip
    """Train the unfinished members of ``specs`` as one pack. Returns, per member, its RunResult, or
    None when there was nothing to do (finished, or another worker holds it)."""
    owners = owners or [owner_id()] * len(specs)
    for sweep_id in dict.fromkeys(spec.sweep or DEFAULT_SWEEP for spec in specs):
        stores.ledger.ensure(sweep_id, [s.run_hash for s in specs if (s.sweep or DEFAULT_SWEEP) == sweep_id])
    results: list = [None] * len(specs)
    with contextlib.ExitStack() as stack:
        claimed = _claim(specs, stores, owners, stale_after_s, stack)
        if not claimed:
            return results
        members, failed, plan = _set_up(specs, claimed)
        if members:
            out = _train([specs[k] for k in members], [claimed[k] for k in members], plan, stores, verbose,
                         train_kwargs)  # fmt: skip
            for k, result in zip(members, out):
                results[k] = result
    if failed:
        raise RuntimeError("pack member(s) failed in set-up: " + "; ".join(failed))
    return results


def _claim(specs, stores: Stores, owners, stale_after_s: float, stack) -> dict[int, Recorder]:
    claimed = {}
    for k, (spec, owner) in enumerate(zip(specs, owners)):
        attempt = stores.ledger.claim(spec.run_hash, owner, stale_after_s)
        if attempt is None:
            continue
        beat = stack.enter_context(Heartbeat(stores.ledger, spec.run_hash, attempt,
                                             stale_after_s / BEATS_PER_STALE))  # fmt: skip
        claimed[k] = Recorder(stores, spec.sweep or DEFAULT_SWEEP, owner, attempt, beat)
    return claimed


def _set_up(specs, claimed: dict[int, Recorder]) -> tuple[list[int], list[str], tuple | None]:
    """Each claimed member's set-up (what `record_run` does before training); returns the members
    ready to train, the errors of those that failed (ended ``failed``) and the members' shared plan."""
    from search_scaling.training.run import inject_fault, plan_run

    members, failed, plan = [], [], None
    for k, recorder in claimed.items():
        spec = specs[k]
        try:
            inject_fault(spec, "setup")
            plan = plan or plan_run(spec)  # the members share it: one task, size and held-out set
            recorder.start(spec, plan[2])
            members.append(k)
        except LostClaim:
            continue
        except Exception as err:  # noqa: BLE001 -- recorded as the member's failure; the rest go on
            _fail(recorder, spec, err)
            failed.append(f"run {spec.run_hash}: {describe(err)}")
    return members, failed, plan


def _train(pack: list, sinks: list[Recorder], plan: tuple, stores: Stores, verbose: bool, train_kwargs: dict):
    from search_scaling.training.pack_run import train_pack

    try:
        results = train_pack(pack, stores.workdir, sinks=sinks, verbose=verbose, plan=plan, **train_kwargs)
    except BaseException as err:
        for spec, recorder in zip(pack, sinks):
            _fail(recorder, spec, err)
        raise
    for i, (spec, recorder, result) in enumerate(zip(pack, sinks, results)):
        if result is None:  # its claim was lost: nothing more to write
            continue
        try:
            recorder.finish(spec, result.scale, result.status, result)
        except LostClaim:
            results[i] = None
    return results


def _fail(recorder: Recorder, spec, err: BaseException) -> None:
    with contextlib.suppress(LostClaim):  # another worker has it: not ours to end
        recorder.fail(spec, err)
