"""What `validate`, `sweep` and `report` check against the store before any expensive work (Ray,
workers, fits): the `--retrain` reset a rerun applies first, the weights a transfer needs, the
unfinished cells a report would read.

Transfer sources: a dependant that starts from a ``step`` of its source needs that step's weights.
A source cell of the sweep raises its own ``keep_checkpoints`` to provide them, but only when it is
trained: a source the store already has as finished is not retrained, and ``keep_checkpoints`` is not
part of its identity, so a source trained keeping no weights can never provide them in that store.
`check_sources_kept` refuses such a sweep at once, naming the source, the step and the way out.
"""

from __future__ import annotations

import contextlib

from search_scaling.store.repair import corrupt_parts, reset_run


def before_sweep(sweep, stores, retrain_cells: list[str]) -> None:
    """What `sweep` does before Ray starts: reset the --retrain cells (said, one line each), then
    refuse transfers whose finished source kept no weights at the step they need."""
    for line in retrain(sweep, stores, retrain_cells):
        print(line, flush=True)
    check_sources_kept(sweep, stores)


def check_sources_kept(sweep, stores) -> None:
    """ValueError naming every finished transfer source that lacks the weights a dependant needs.
    ``stores`` may be a function that makes them (`validate`: only asked with transfers; no store
    yet means nothing is finished)."""
    from search_scaling.store.weights import find_run, kept_steps

    if not any(cell.init_from for cell in sweep.cells):
        return
    if callable(stores):
        try:
            stores = stores()
        except ValueError:  # no store yet
            return
    problems, seen = [], set()
    for cell in sweep.cells:
        if not cell.init_from or (cell.init_from["run"], cell.init_from["step"]) in seen:
            continue
        source, step = cell.init_from["run"], cell.init_from["step"]
        seen.add((source, step))
        try:
            row = find_run(stores, source)
        except ValueError:
            continue  # not trained yet: it is trained by this sweep, keeping what is needed
        if row["status"] != "done":
            continue  # trained (again) by this sweep, or failed: the dependant says why at run time
        need = int(row["steps"]) if step is None else step
        kept = kept_steps(stores, row)
        if need not in kept:
            problems.append(_missing(sweep, source, row, need, kept))
    if problems:
        raise ValueError("\n".join(problems))


def _missing(sweep, source: str, row: dict, step: int, kept: dict) -> str:
    import json

    keep = json.loads(row["spec_json"]).get("keep_checkpoints", "none")
    ours = source in sweep.run_hashes
    retrain = (f"retrain it in place, keeping every other cell: search-scaling sweep {sweep.path} "
               f"--retrain {source}" if ours else
               f"retrain it with keep_checkpoints: log in the spec of sweep {row['sweep_id']!r} and "
               f"`search-scaling sweep THAT_SPEC --retrain {source}`")  # fmt: skip
    return (f"init_from: source run {source} ({row['task']} size {row['task_size']}, model {row['model']}, "
            f"sweep {row['sweep_id']!r}) is done but kept no weights at step {step} (kept steps: "
            f"{list(kept) or 'none'}; it was trained with keep_checkpoints: {keep}). A finished run is "
            f"not trained again, so rerunning cannot make them: {retrain}; or run this sweep into a "
            "fresh store (--store NEW)")  # fmt: skip


def retrain(sweep, stores, wanted: list[str]) -> list[str]:
    """Reset the cells named by ``wanted`` (run hashes or unique prefixes, cells of this sweep) so
    this sweep trains them again; returns one line per cell."""
    from search_scaling.store.weights import find_run

    lines = []
    for run_hash in [_cell(sweep, text) for text in wanted]:
        sweep_ids = [sweep.name]
        with contextlib.suppress(ValueError):  # never trained: only the ledger row to reset
            sweep_ids.append(find_run(stores, run_hash)["sweep_id"])
        removed = reset_run(stores, run_hash, sweep_ids)
        lines.append(f"retrain {run_hash}: reset to pending ({len(removed)} folder(s) of outputs removed)")
    return lines


def _cell(sweep, text: str) -> str:
    found = [h for h in sweep.run_hashes if h.startswith(text)] if text else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(f"--retrain {text!r}: no cell of sweep {sweep.name!r} ({sweep.path}) has that "
                         "run hash (see `search-scaling validate SPEC` for the cells' hashes)")  # fmt: skip
    raise ValueError(f"--retrain {text!r} matches {len(found)} cells of sweep {sweep.name!r}: {found}")


def corrupt_finished(stores, sweep, reused: list[str]) -> list[str]:
    """Lines naming the curve parts of ``reused`` (finished, not retrained) cells that do not read
    back, with how to retrain them; empty when every part reads."""
    bad = corrupt_parts(stores.parquet, sweep.name, reused)
    lines = [f"corrupt curve part of finished cell {h}: {path}: {error}" for h, path, error in bad]
    if bad:
        hashes = " ".join(f"--retrain {h}" for h in dict.fromkeys(h for h, _, _ in bad))
        lines.append(f"{len(bad)} curve part(s) do not read back: those cells were reused with incomplete "
                     f"curves. Retrain them in place (every other cell is kept): "
                     f"search-scaling sweep {sweep.path} {hashes}")  # fmt: skip
    return lines


def report_warning(store: str, sweep: str) -> str | None:
    """`unfinished_warning` for the store `report` reads, with its ledger where it has one."""
    from search_scaling.store import ParquetStore, Stores
    from search_scaling.store.export import ledger_if_any, unfinished_warning

    try:
        ledger = ledger_if_any(Stores.resolve(store, mlflow=False, create=False))
    except ValueError:  # a remote store without a ledger URL: the runs table is all there is
        ledger = None
    return unfinished_warning(ParquetStore(store), sweep, ledger)
