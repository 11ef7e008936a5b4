"""Finding and undoing damage to finished runs: curve parts that do not read back, and the reset
that lets one finished cell be trained again in place (`search-scaling sweep SPEC --retrain HASH`).

A rerun never retrains a cell the ledger has as finished (identity is a content hash: re-running is
a no-op), so a finished cell whose curve part was corrupted, or that kept no weights a new transfer
needs, would otherwise stay as it is in that store for good. `reset_run` returns one cell to
``pending`` and removes everything it wrote (runs row, curve parts, kept weights, resume
checkpoint), touching no other cell; the next sweep trains it from scratch.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq

TABLES = ("runs", "curves", "weights")


def corrupt_parts(parquet, sweep: str, run_hashes=None) -> list[tuple[str, str, str]]:
    """(run hash, path, error) of every curve part of ``sweep`` (of ``run_hashes`` if given) that
    does not read back in full."""
    root = f"{parquet.root}/curves/sweep_id={sweep}"
    selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
    wanted = None if run_hashes is None else set(run_hashes)
    bad = []
    for info in parquet.fs.get_file_info(selector):
        if info.type != pafs.FileType.File or not info.base_name.startswith("part-"):
            continue
        run_hash = info.path.rsplit("run_hash=", 1)[-1].split("/", 1)[0]
        if wanted is not None and run_hash not in wanted:
            continue
        try:
            pq.read_table(info.path, filesystem=parquet.fs)
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            bad.append((run_hash, info.path, str(err).splitlines()[0]))
    return bad


def reset_run(stores, run_hash: str, sweep_ids: list[str]) -> list[str]:
    """Return a cell to ``pending`` and remove what it wrote under each of ``sweep_ids`` (the sweep
    that trained it); refuses a cell that a worker holds. Returns what was removed (for the user)."""
    row = stores.ledger.get(run_hash)
    if row is not None and row["status"] == "running":
        raise ValueError(f"--retrain {run_hash}: the cell is running under {row['owner']!r} (last heartbeat "
                         f"{row['heartbeat_at']}); stop that sweep first")  # fmt: skip
    removed = []
    for sweep_id in dict.fromkeys(sweep_ids):
        for table in TABLES:
            directory = stores.parquet._dir(table, sweep_id, run_hash)
            if stores.parquet.fs.get_file_info(directory).type == pafs.FileType.Directory:
                stores.parquet.fs.delete_dir(directory)
                removed.append(directory)
    work = Path(stores.workdir) / run_hash
    if work.exists():  # the resume checkpoint: left there, the "retrained" run would resume at its end
        shutil.rmtree(work)
        removed.append(str(work))
    stores.ledger.reset(run_hash)
    return removed
