"""`export_sweep` and `search-scaling export`: one sweep's runs and curves, one file per run and
table, read back exactly as the source store reads them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from search_scaling.cli import main
from search_scaling.store import ParquetStore
from search_scaling.store.export import export_sweep
from search_scaling.store.schema import STORE_SCHEMA_VERSION, VERSION_KEY, file_version
from tests.unit.store.test_parquet import rows, run_row


def two_sweeps(root) -> ParquetStore:
    store = ParquetStore(root)
    for sweep, run in [("a", "r1"), ("a", "r2"), ("b", "r3")]:
        store.write_run(sweep, run, run_row(seed=int(run[1])))
        store.write_curves(sweep, run, rows(range(0, 3), value=0.5), 0, 2)  # two flushes per run
        store.write_curves(sweep, run, rows(range(3, 5), value=0.25), 3, 4)
    return store


def sort(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_export_holds_one_sweep_one_file_per_run_and_reads_back_equal(tmp_path):
    source = two_sweeps(tmp_path / "store")
    done = export_sweep(str(tmp_path / "store"), "a", tmp_path / "export")
    assert done["runs"] == 2 and done["curve_rows"] == 20 and done["bytes"] > 0
    export = ParquetStore(tmp_path / "export")
    pd.testing.assert_frame_equal(sort(export.curves("a")), sort(source.curves("a")))
    pd.testing.assert_frame_equal(sort(export.runs("a")), sort(source.runs("a")))
    assert export.runs("b").empty  # only the named sweep
    mark = json.loads((tmp_path / "export" / "EXPORTED.json").read_text())
    assert mark["source"] == "../store"  # relative: a committed export names no machine's paths
    parts = sorted((tmp_path / "export" / "curves").rglob("*.parquet"))
    assert [p.name for p in parts] == ["part-000000000-000000004.parquet"] * 2
    import pyarrow.parquet as pq

    schema = pq.read_schema(parts[0])
    assert file_version(schema) == STORE_SCHEMA_VERSION
    assert b"pandas" not in schema.metadata and VERSION_KEY in schema.metadata


def test_export_again_replaces_and_bad_input_is_one_error(tmp_path, capsys):
    two_sweeps(tmp_path / "store")
    for _ in range(2):  # a second export over the first leaves one file per run, not two
        assert main(["export", "a", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "x")]) == 0
    assert len(list((tmp_path / "x" / "curves").rglob("*.parquet"))) == 2
    assert "exported 2 runs, 20 curve rows" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no runs of sweep 'nope'"):
        export_sweep(str(tmp_path / "store"), "nope", tmp_path / "y")
    with pytest.raises(ValueError, match="lies inside the store"):
        export_sweep(str(tmp_path / "store"), "a", tmp_path / "store" / "export")
