"""Tables in: the store's `runs` and `curves` (read with pyarrow alone, no search_scaling import), or
any CSV / Parquet / DataFrame with named columns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from analysis.groups import condition

PARTITIONS = pa.schema([("sweep_id", pa.string()), ("run_hash", pa.string())])


def load_table(source) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a .csv file, or a Parquet file or directory."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.exists():
        raise ValueError(f"table {str(path)!r} not found")
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def _read(root: str, table: str, sweep: str | None, missing_ok: bool = False) -> pd.DataFrame:
    """A store table from a local directory or any pyarrow filesystem URI (``s3://bucket/runs``).
    ``missing_ok``: an absent table is empty (no run of the store got as far as writing one)."""
    if "://" in root:
        fs, base = pafs.FileSystem.from_uri(root)
    else:
        fs, base = pafs.LocalFileSystem(), str(Path(root).resolve())
    base = f"{base.rstrip('/')}/{table}"
    if fs.get_file_info(base).type == pafs.FileType.NotFound:
        if missing_ok:
            return pd.DataFrame(columns=["run_hash", "step", "tokens", "flops", "split", "metric", "value"])
        raise ValueError(f"no {table!r} table under store {root!r}")
    filt = ds.field("sweep_id") == sweep if sweep else None
    partitioning = ds.partitioning(PARTITIONS, flavor="hive")
    try:
        dataset = ds.dataset(base, filesystem=fs, partitioning=partitioning)
        dataset = ds.dataset(base, filesystem=fs, partitioning=partitioning, schema=_unified(dataset))
        return dataset.to_table(filter=filt).to_pandas()
    except (OSError, pa.ArrowInvalid) as err:  # a corrupt file: name it, no traceback
        raise ValueError(f"store {root!r}: unreadable {table!r} file ({str(err).splitlines()[0]})") from None


def _unified(dataset: ds.Dataset) -> pa.Schema:
    """Every column of every file: pyarrow takes a dataset's schema from the first file it lists, so a
    store mixing runs files of schema version 2 (no ``stop_reason``) and 3 silently lost the new
    columns when an old file came first. A file without a column reads it as null."""
    schemas = [fragment.physical_schema for fragment in dataset.get_fragments()]
    return pa.unify_schemas([*schemas, PARTITIONS], promote_options="permissive")


@dataclass(frozen=True)
class RunRecord:
    run_hash: str
    task: str
    task_size: int
    model: str
    params_nonembed: int
    seed: int
    status: str
    eval_examples: int
    final: dict


def read_store(root, sweep: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, curves) of one sweep (or all); curves carry their run's task, sizes and parameters."""
    root = str(root)
    runs, curves = _read(root, "runs", sweep), _read(root, "curves", sweep, missing_ok=True)
    if runs.empty:
        raise ValueError(f"store {root!r} has no runs" + (f" for sweep {sweep!r}" if sweep else ""))
    runs = runs.copy()
    specs = [json.loads(s) for s in runs["spec_json"]]
    runs["eval_examples"] = [spec.get("eval_examples") for spec in specs]
    runs["condition"] = [condition(spec) for spec in specs]
    keep = ["run_hash", "task", "task_size", "model", "seed", "params_nonembed", "flops_per_token", "status",
            "eval_examples", "condition"]  # fmt: skip
    return runs, curves.merge(runs[keep], on="run_hash", how="inner")


def records(runs: pd.DataFrame) -> list[RunRecord]:
    return [
        RunRecord(r.run_hash, r.task, int(r.task_size), r.model, int(r.params_nonembed), int(r.seed),
                  r.status, int(r.eval_examples or 0), json.loads(r.final_json) if r.final_json else {})
        for r in runs.itertuples(index=False)
    ]  # fmt: skip


def eval_wide(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, step) of the held-out evaluation, one column per metric."""
    ev = curves[curves["split"] == "eval"]
    if "condition" not in ev:  # a table from elsewhere: one condition
        ev = ev.assign(condition="")
    index = ["run_hash", "step", "tokens", "flops", "task", "condition", "task_size", "model", "seed",
             "params_nonembed", "eval_examples"]  # fmt: skip
    return ev.pivot_table(index=index, columns="metric", values="value", observed=True).reset_index()


def final_eval(curves: pd.DataFrame) -> pd.DataFrame:
    wide = eval_wide(curves)
    return wide.sort_values("step").groupby("run_hash", as_index=False).last()
