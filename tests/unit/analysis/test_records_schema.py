"""`analysis.records` reads a store whose runs files come from two schema versions (issue 28 added
``stop_reason`` and ``stopped_step`` in version 3): the union of their columns, never the columns of
whichever file pyarrow happened to open first."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from analysis.budget import budget_limited
from analysis.records import read_store
from search_scaling.store.schema import RUNS_SCHEMA, VERSION_KEY
from tests.unit.analysis.synthetic import make_runs, write_store

NEW_COLUMNS = ("stop_reason", "stopped_step")


def rewrite_as_version_2(store, sweep: str, run_hash: str) -> None:
    """Replace a run's file by what a version-2 writer left: no stop columns, version 2 in its metadata."""
    path = f"{store}/runs/sweep_id={sweep}/run_hash={run_hash}/run.parquet"
    table = pq.read_table(path).drop_columns(list(NEW_COLUMNS))
    pq.write_table(table.replace_schema_metadata({VERSION_KEY: b"2"}), path)


@pytest.mark.parametrize(
    "old", ["first", "last"]
)  # pyarrow inferred the schema from the first file it listed
def test_runs_files_with_and_without_the_stop_columns_read_as_one_table(tmp_path, old):
    runs = make_runs(0, sizes=(3,), params=(1e3, 3e3), seeds=(0,))  # run hashes s3-n1000-r0, s3-n3000-r0
    for (row, _), reason in zip(runs, ("budget", "target")):
        row.update(stop_reason=reason, stopped_step=1000)
    store = write_store(tmp_path, runs)
    old_hash = "s3-n1000-r0" if old == "first" else "s3-n3000-r0"
    rewrite_as_version_2(store, "syn", old_hash)
    assert (
        "stop_reason"
        not in pq.read_schema(f"{store}/runs/sweep_id=syn/run_hash={old_hash}/run.parquet").names
    )
    table, curves = read_store(store, "syn")
    assert set(NEW_COLUMNS) <= set(table.columns) and len(table) == 2
    by_hash = table.set_index("run_hash")
    new_hash = ({"s3-n1000-r0", "s3-n3000-r0"} - {old_hash}).pop()
    assert (
        by_hash.loc[new_hash, "stop_reason"]
        == dict(zip(("s3-n1000-r0", "s3-n3000-r0"), ("budget", "target")))[new_hash]
    )
    assert by_hash.loc[new_hash, "stopped_step"] == 1000
    assert by_hash.loc[old_hash, ["stop_reason", "stopped_step"]].isna().all()  # unknown, not lost
    cells = budget_limited(table).set_index("model")
    assert cells.loc["N1000", "budget_limited"] == (old == "last") and cells["unknown"].sum() == 1
    assert len(curves) > 0 and set(RUNS_SCHEMA.names) <= set(table.columns)
