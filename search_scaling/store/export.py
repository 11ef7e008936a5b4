"""`export_sweep`: one sweep's runs and curves copied into a new, compact store (no weights, no
ledger, no MLflow), e.g. to commit a study beside its report. The export is a store like any other:
`search-scaling report SWEEP --store EXPORT` rebuilds the report from it, and it reads with
`analysis.records.read_store` or plain pyarrow. Each run becomes one ``run.parquet`` and one curve
part (zstd), whatever number of flushes wrote it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from search_scaling.store.parquet import PART, ParquetStore
from search_scaling.store.schema import CURVES_SCHEMA, RUNS_SCHEMA


def export_sweep(store: str, sweep: str, out: str | Path) -> dict:
    """Copy ``sweep`` from ``store`` into the store at ``out``; returns counts and bytes written.
    Runs that have no curve yet (never started) are exported too: the report counts them."""
    source, dest = ParquetStore(store), ParquetStore(str(out))
    if source.local and dest.local and Path(dest.root).is_relative_to(source.root):
        raise ValueError(f"export: --out {str(out)!r} lies inside the store {store!r}; name a folder "
                         "outside it")  # fmt: skip
    runs = source.runs(sweep)
    if runs.empty:
        raise ValueError(f"export: store {store!r} has no runs of sweep {sweep!r}")
    curves = source.curves(sweep, with_runs=False)
    written = 0
    for run_hash, row in runs.groupby("run_hash"):
        written += _write(dest, "runs", sweep, run_hash, "run.parquet", row, RUNS_SCHEMA)
    for run_hash, rows in curves.groupby("run_hash"):
        rows = rows.sort_values(["step", "split", "metric"], kind="stable")
        name = PART.format(first=int(rows["step"].min()), last=int(rows["step"].max()))
        written += _write(dest, "curves", sweep, run_hash, name, rows, CURVES_SCHEMA)
    return {"runs": len(runs), "curve_rows": len(curves), "bytes": written, "out": dest.root_uri}


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
