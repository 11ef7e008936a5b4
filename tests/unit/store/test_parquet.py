"""The Parquet store: documented columns, filters, atomic and idempotent writes."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from search_scaling.store import ParquetStore, parquet
from search_scaling.store.schema import CURVES_SCHEMA, RUNS_SCHEMA

CURVE_COLUMNS = [f.name for f in CURVES_SCHEMA] + ["sweep_id", "run_hash"]


def rows(steps, value=1.0):
    common = {"split": "eval", "value": value}
    return [{**common, "step": s, "tokens": 10 * s, "flops": 60.0 * s, "metric": m, "wall_time": 0.1 * s}
            for s in steps for m in ("loss", "exact")]  # fmt: skip


def run_row(task="maze", size=3, **extra):
    now = dt.datetime.now(dt.timezone.utc)
    row = {f.name: None for f in RUNS_SCHEMA}
    return {
        **row,
        "task": task,
        "task_size": size,
        "model": "L1-D8",
        "status": "done",
        "started_at": now,
        **extra,
    }


def test_pandas_alone_reads_the_documented_columns(tmp_path):
    store = ParquetStore(tmp_path)
    store.write_curves("sw", "abc", rows(range(3)), 0, 2)
    frame = pd.read_parquet(tmp_path / "curves")
    assert sorted(frame.columns) == sorted(CURVE_COLUMNS)
    assert len(frame) == 6 and set(frame["run_hash"].astype(str)) == {"abc"}


def test_reader_filters_by_sweep_task_and_size_and_joins_run_columns(tmp_path):
    store = ParquetStore(tmp_path)
    for sweep, run, task, size in [("a", "r1", "maze", 3), ("a", "r2", "maze", 4), ("b", "r3", "parity", 3)]:
        store.write_run(sweep, run, run_row(task, size))
        store.write_curves(sweep, run, rows(range(2)), 0, 1)
    assert set(store.curves(sweep="a")["run_hash"]) == {"r1", "r2"}
    assert set(store.curves(task="maze", size=4)["run_hash"]) == {"r2"}
    assert set(store.curves(size=3)["run_hash"]) == {"r1", "r3"}
    joined = store.curves(run_hash="r3")
    assert (joined["task"] == "parity").all() and "params_nonembed" in joined
    assert store.curves(sweep="nope").empty and list(store.runs(sweep="nope").columns)


def test_rewriting_a_range_replaces_it_and_drops_stale_later_parts(tmp_path):
    store = ParquetStore(tmp_path)
    store.write_curves("s", "r", rows(range(0, 3)), 0, 2)
    store.write_curves("s", "r", rows(range(3, 8)), 3, 7)  # an attempt that crashed before checkpointing
    store.write_curves("s", "r", rows(range(3, 6), value=2.0), 3, 5)  # the replay flushes at other steps
    store.write_curves("s", "r", rows(range(6, 9), value=2.0), 6, 8)
    frame = store.curves(with_runs=False)
    assert len(frame) == len(frame.drop_duplicates(["step", "split", "metric"])) == 18
    assert (frame[frame.step >= 3]["value"] == 2.0).all()


def test_temporaries_are_invisible_to_readers(tmp_path):
    store = ParquetStore(tmp_path)
    store.write_curves("s", "r", rows(range(2)), 0, 1)
    part_dir = tmp_path / "curves" / "sweep_id=s" / "run_hash=r"
    (part_dir / ".part-000000002-000000003.parquet.abc.tmp").write_bytes(b"PAR1 half a file")
    assert len(pd.read_parquet(tmp_path / "curves")) == 4 and len(store.curves(with_runs=False)) == 4


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "k=v", ".hidden"])
def test_partition_keys_are_checked(tmp_path, bad):
    with pytest.raises(ValueError, match="store key"):
        ParquetStore(tmp_path).write_curves(bad, "r", rows([0]), 0, 0)


def test_any_pyarrow_filesystem_uri(tmp_path):
    store = ParquetStore(f"file://{tmp_path}")
    store.write_curves("s", "r", rows(range(2)), 0, 1)
    assert len(ParquetStore(tmp_path).curves(with_runs=False)) == 4


def test_an_interrupted_write_leaves_no_temporary_and_the_old_file_intact(tmp_path, monkeypatch):
    store = ParquetStore(tmp_path)
    store.write_run("s", "r", run_row(status="running"))
    real = parquet.pq.write_table

    def ctrl_c_mid_write(table, where, **kwargs):
        real(table, where, **kwargs)
        raise KeyboardInterrupt  # after the temporary is written, before its rename

    monkeypatch.setattr(parquet.pq, "write_table", ctrl_c_mid_write)
    with pytest.raises(KeyboardInterrupt):
        store.write_run("s", "r", run_row(status="done"), tag="a2")
    run_dir = tmp_path / "runs" / "sweep_id=s" / "run_hash=r"
    assert [p.name for p in run_dir.iterdir()] == ["run.parquet"]
    assert list(store.runs()["status"]) == ["running"]


def test_temporaries_are_removed_by_writer_tag_or_all(tmp_path):
    store = ParquetStore(tmp_path)
    store.write_curves("s", "r", rows(range(2)), 0, 1)
    part_dir = tmp_path / "curves" / "sweep_id=s" / "run_hash=r"
    for tag in ("a1", "a2", "a12"):  # left by killed attempts
        (part_dir / f".part-000000002-000000003.parquet.{tag}-abc.tmp").write_bytes(b"PAR1 half")
    assert store.remove_temporaries("s", "r", tag="a1") == 1  # not a12's
    assert store.remove_temporaries("s", "r") == 2
    assert sorted(p.name for p in part_dir.iterdir()) == ["part-000000000-000000001.parquet"]


def test_version_1_files_read_as_the_current_version_and_newer_ones_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = ParquetStore(tmp_path)
    store.write_curves("s", "new", [{**r, "split": "eval:shifted"} for r in rows([1])], 0, 1)
    for run_hash, version in (("old", "1"), ("future", "5")):
        table = pa.Table.from_pylist(rows([1]), schema=CURVES_SCHEMA)
        folder = tmp_path / "curves" / "sweep_id=s" / f"run_hash={run_hash}"
        folder.mkdir(parents=True)
        pq.write_table(table.replace_schema_metadata({"search_scaling.schema_version": version}),
                       folder / "part-000000000-000000001.parquet")  # fmt: skip
    with pytest.raises(ValueError, match="has store schema version 5, newer than this code's 4"):
        store.curves(with_runs=False)
    (tmp_path / "curves" / "sweep_id=s" / "run_hash=future" / "part-000000000-000000001.parquet").unlink()
    curves = store.curves(with_runs=False)
    assert set(zip(curves["run_hash"], curves["split"])) == {("old", "eval"), ("new", "eval:shifted")}


def test_version_2_runs_files_read_with_null_stop_columns(tmp_path):
    """Runs rows written before stop rules (no stop_reason / stopped_step columns) still read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = ParquetStore(tmp_path)
    store.write_run("s", "new", run_row(stop_reason="target", stopped_step=40, steps=40))
    old_schema = pa.schema([f for f in RUNS_SCHEMA if f.name not in ("stop_reason", "stopped_step")],
                           metadata={"search_scaling.schema_version": "2"})  # fmt: skip
    folder = tmp_path / "runs" / "sweep_id=s" / "run_hash=old"
    folder.mkdir(parents=True)
    old = {k: v for k, v in run_row().items() if k in old_schema.names}
    pq.write_table(pa.Table.from_pylist([old], schema=old_schema), folder / "run.parquet")
    runs = store.runs().set_index("run_hash")
    assert runs.loc["new", "stop_reason"] == "target" and runs.loc["new", "stopped_step"] == 40
    assert pd.isna(runs.loc["old", "stop_reason"]) and pd.isna(runs.loc["old", "stopped_step"])


@pytest.mark.parametrize("change", ["rewritten", "removed"])
def test_a_file_replaced_between_its_footer_and_its_data_is_read_again(tmp_path, monkeypatch, change):
    """A reader opens each file twice (footer at discovery, data later); a writer's rename between
    the two hands it another file under the same name: the read starts over instead of failing."""
    store = ParquetStore(tmp_path)
    store.write_run("s", "r1", run_row(status="running"))
    store.write_run("s", "r2", run_row(status="running"))
    real, calls = parquet.file_version, []

    def version_then_replace(schema):
        calls.append(1)
        if len(calls) == 1:  # another process finishes r1 (a longer row) or a replay removes r2
            if change == "rewritten":
                store.write_run("s", "r1", run_row(status="done", error="x" * 5000))
            else:
                (tmp_path / "runs" / "sweep_id=s" / "run_hash=r2" / "run.parquet").unlink()
        return real(schema)

    monkeypatch.setattr(parquet, "file_version", version_then_replace)
    runs = store.runs(sweep="s").set_index("run_hash")
    if change == "rewritten":
        assert runs.loc["r1", "status"] == "done" and len(runs) == 2
    else:
        assert list(runs.index) == ["r1"]
