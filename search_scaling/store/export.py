"""`export_sweep`: one sweep's runs and curves copied into a new, compact store (no weights, no
ledger, no MLflow), e.g. to commit a study beside its report. The export is a store like any other:
`search-scaling report SWEEP --store EXPORT` rebuilds the report from it, and it reads with
`analysis.records.read_store` or plain pyarrow. Each run becomes one ``run.parquet`` and one curve
part (zstd), whatever number of flushes wrote it.

An export is a snapshot of finished work: a sweep with cells still ``running`` or ``pending`` (a live
sweep, or one whose driver died) is refused, naming them, unless ``allow_unfinished`` (their curves
are cut where they stood). It never merges into a live store (one with a ledger, an MLflow database
or checkpoints) nor writes into a folder that holds the source store; ``EXPORT_MARK`` marks the
folder as an export (what `load_run` reads to say why there are no weights)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from search_scaling.store.parquet import PART, ParquetStore
from search_scaling.store.schema import CURVES_SCHEMA, RUNS_SCHEMA

UNFINISHED = ("pending", "running")
EXPORT_MARK = "EXPORTED.json"  # at the export's root: {"source": store, "sweeps": [...]}
LIVE_MARKS = ("ledger.db", "mlflow.db", "checkpoints", "weights")  # what a store that trains has


def export_sweep(
    store: str, sweep: str, out: str | Path, ledger=None, allow_unfinished: bool = False
) -> dict:
    """Copy ``sweep`` from ``store`` into the store at ``out``; returns counts and bytes written.
    Runs that have no curve yet (never started) are exported too: the report counts them.
    ``ledger`` (the source's `Ledger`, if it has one) adds the cells it knows unfinished."""
    source, dest = ParquetStore(store), ParquetStore(str(out))
    if source.local and dest.local:
        _check_destination(Path(source.root), Path(dest.root), str(out), store)
    runs = source.runs(sweep)
    if runs.empty:
        raise ValueError(f"export: store {store!r} has no runs of sweep {sweep!r}")
    unfinished = unfinished_runs(runs, sweep, ledger)
    if unfinished and not allow_unfinished:
        raise ValueError(f"export: sweep {sweep!r} has {len(unfinished)} unfinished cell(s), "
                         f"{_listed(unfinished)}; their curves are cut where they stand. Let the "
                         "sweep finish (or rerun it), or pass --allow-unfinished to export them as "
                         "they are")  # fmt: skip
    curves = source.curves(sweep, with_runs=False)
    written = 0
    for run_hash, row in runs.groupby("run_hash"):
        written += _write(dest, "runs", sweep, run_hash, "run.parquet", row, RUNS_SCHEMA)
    for run_hash, rows in curves.groupby("run_hash"):
        rows = rows.sort_values(["step", "split", "metric"], kind="stable")
        name = PART.format(first=int(rows["step"].min()), last=int(rows["step"].max()))
        written += _write(dest, "curves", sweep, run_hash, name, rows, CURVES_SCHEMA)
    if dest.local:
        _mark(Path(dest.root), store, sweep)
    return {"runs": len(runs), "curve_rows": len(curves), "bytes": written, "out": dest.root_uri,
            "unfinished": unfinished}  # fmt: skip


def unfinished_runs(runs: pd.DataFrame, sweep: str, ledger=None) -> dict[str, str]:
    """{run hash: status} of the sweep's cells still ``running`` or ``pending``: from the runs table,
    overridden by the ledger (the authority on status) where there is one, which also knows the
    cells that never started (no runs row yet)."""
    statuses = dict(zip(runs["run_hash"], runs["status"]))
    if ledger is not None:
        statuses.update(ledger.statuses(list(statuses)))
        statuses.update({h: s for h, s in ledger.sweep_statuses(sweep).items() if h not in statuses})
    return {h: s for h, s in sorted(statuses.items()) if s in UNFINISHED}


def _listed(unfinished: dict[str, str], most: int = 8) -> str:
    shown = [f"{h} ({s})" for h, s in list(unfinished.items())[:most]]
    more = len(unfinished) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _check_destination(source: Path, dest: Path, out: str, store: str) -> None:
    """Refuse an --out that would merge the export into a store or folder it must not touch."""
    source, dest = source.resolve(), dest.resolve()
    if dest.is_relative_to(source):
        raise ValueError(f"export: --out {out!r} lies inside the store {store!r}; name a folder outside it")
    if source.is_relative_to(dest):
        raise ValueError(f"export: --out {out!r} holds the store {store!r}; name a new folder outside it")
    live = [name for name in LIVE_MARKS if (dest / name).exists()]
    if live:
        raise ValueError(f"export: --out {out!r} is a live store (it has {', '.join(live)}): an export "
                         "would merge into it; name a new folder (or an earlier export)")  # fmt: skip


def _mark(dest: Path, store: str, sweep: str) -> None:
    path = dest / EXPORT_MARK
    sweeps = json.loads(path.read_text()).get("sweeps", []) if path.exists() else []
    if "://" not in store:  # relative to the export: a committed export names no machine's paths
        store = os.path.relpath(Path(store).resolve(), dest.resolve())
    mark = {"source": store, "sweeps": sorted({*sweeps, sweep}),
            "note": "an export: runs and curves only (no weights, ledger or MLflow)"}  # fmt: skip
    path.write_text(json.dumps(mark, indent=1))


def export_source(root: str) -> str:
    """The store an export was written from, as a path a user can open from here (the mark keeps it
    relative to the export, so it is resolved against the export's folder)."""
    source = json.loads((Path(root) / EXPORT_MARK).read_text()).get("source", "?")
    if source == "?" or "://" in source or os.path.isabs(source):
        return source
    return os.path.normpath(Path(root).resolve() / source)


def is_export(root: str) -> bool:
    """True for a local folder written by `export_sweep` (it has no weights, ledger or MLflow)."""
    return "://" not in root and (Path(root) / EXPORT_MARK).exists()


def _write(dest: ParquetStore, table: str, sweep: str, run_hash: str, name: str, rows: pd.DataFrame,
           schema: pa.Schema) -> int:  # fmt: skip
    """One file of one run, replacing whatever an earlier export left in that run's folder."""
    directory = dest._dir(table, sweep, run_hash)
    for old in dest.fs.get_file_info(pafs.FileSelector(directory, allow_not_found=True)):
        dest.fs.delete_file(old.path)
    data = pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False)
    data = data.replace_schema_metadata(schema.metadata)  # the store's version key, not pandas' notes
    path = dest._write(data, directory, name, tag="export", compression="zstd")
    return dest.fs.get_file_info(path).size


def ledger_if_any(stores):
    """The store's ledger, or None where it has none (an export, a copied store): a reader never
    creates one."""
    url = stores.ledger_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    return stores.ledger


def unfinished_warning(parquet: ParquetStore, sweep: str, ledger=None) -> str | None:
    """What `report` prints first when the sweep has cells still running or pending (it fits their
    partial curves), or None."""
    runs = parquet.runs(sweep)
    unfinished = unfinished_runs(runs, sweep, ledger) if len(runs) else {}
    if not unfinished:
        return None
    return (f"WARNING: {len(unfinished)} cell(s) of sweep {sweep!r} are unfinished, {_listed(unfinished)}: "
            "this report reads their curves as they stand (cut short); write it again once the sweep "
            "has finished")  # fmt: skip
