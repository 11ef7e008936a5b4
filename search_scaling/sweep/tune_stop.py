"""How a hyperparameter search ends its runs when it is not the scheduler that stopped them.

Ctrl-C during `search-scaling tune`: Ray Tune's own SIGINT handler ends the experiment "gracefully"
by stopping every trial, which a trial cannot tell from ASHA stopping it: its runs would end
``pruned`` ("stopped by the scheduler"), the search would look ended and be recorded so, and every
rerun would reuse that record ("no trial finished"). So `interrupts_raise` turns Tune's handler off
while the search runs: Ctrl-C raises KeyboardInterrupt in the driver, which ends the runs its
trials still hold ``failed`` "interrupted" (`end_held`), records nothing and exits 130; a rerun
claims those runs again and resumes them from their checkpoints, as after a SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading

from search_scaling.store import Stores

INTERRUPTED = "interrupted"  # the error of a run stopped by Ctrl-C, as in `sweep` and `train`
_TUNE_SIGINT = "TUNE_DISABLE_SIGINT_HANDLER"  # read by Tune each time a search starts


@contextlib.contextmanager
def interrupts_raise():
    """Within: Ctrl-C raises KeyboardInterrupt out of ``Tuner.fit`` (Tune does not catch it)."""
    before = os.environ.get(_TUNE_SIGINT)
    os.environ[_TUNE_SIGINT] = "1"
    handler = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is threading.main_thread() and handler in (signal.SIG_DFL, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a KeyboardInterrupt, not death
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_TUNE_SIGINT, None)
        else:
            os.environ[_TUNE_SIGINT] = before
        if threading.current_thread() is threading.main_thread() and handler is not None:
            signal.signal(signal.SIGINT, handler)


def end_held(stores: Stores, owner_prefix: str, status: str, error: str, run_hashes=None) -> list[str]:
    """End the runs still ``running`` under an owner starting with ``owner_prefix`` (trials of one
    search; among ``run_hashes`` if given) as ``status`` (failed or pruned) with ``error``, in the
    ledger and the runs table. A trial's actor that is still alive is fenced out at its next write.
    Returns the run hashes ended here."""
    ended = []
    for row in stores.ledger.held(owner_prefix, run_hashes):
        if stores.ledger.release(row["run_hash"], row["owner"], error, status=status):
            _rewrite_run_row(stores, row["sweep_id"], row["run_hash"], status, error)
            ended.append(row["run_hash"])
    return ended


def _rewrite_run_row(stores: Stores, sweep_id: str, run_hash: str, status: str, error: str) -> None:
    """The runs row follows the ledger; the curves flushed before each report are kept, and the
    checkpoint lets a later search go on."""
    from search_scaling.store.recorder import SCALE_COLUMNS, run_row
    from search_scaling.training.spec import RunSpec

    runs = stores.parquet.runs(sweep=sweep_id)
    runs = runs[runs["run_hash"] == run_hash]
    if not len(runs):
        return  # stopped before its first runs row
    old = runs.iloc[0]
    spec = RunSpec.from_dict(json.loads(old["spec_json"]))
    scale = {k: int(old[k]) for k in SCALE_COLUMNS}
    row = run_row(spec, scale, status, old["started_at"].to_pydatetime(), error=error)
    stores.parquet.write_run(sweep_id, run_hash, row, "settle")


def interrupted_words(stores: Stores, sweep_name: str) -> str:
    """What `tune` prints on Ctrl-C: where its runs stand and how to go on."""
    from search_scaling.sweep.tune_plan import SUFFIX

    with contextlib.suppress(Exception):  # the ledger itself may be what was interrupted
        counts = stores.ledger.sweep_counts(sweep_name + SUFFIX)
        where = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no runs"
        return (
            f"interrupted: runs in flight released (ledger: failed, {INTERRUPTED!r}); {where}; "
            "the search is not recorded as ended, and the same command resumes it"
        )
    return "interrupted: the same command resumes the search"
