"""`export` and `report` on a sweep that has not finished, and `export --out` into the wrong folder:
a running or pending cell is named and refused (or exported with --allow-unfinished), `report` warns
first; a live store or a folder holding the source is never merged into."""

from __future__ import annotations

import pytest

from search_scaling.cli import main
from search_scaling.store import Ledger, ParquetStore
from search_scaling.store.export import EXPORT_MARK, export_sweep, is_export
from tests.unit.store.test_parquet import rows, run_row


def live_sweep(root) -> Ledger:
    """Sweep ``a``: r1 done, r2 running (its curve cut at step 4), r3 pending (never started)."""
    store = ParquetStore(root)
    for run, status in [("r1", "done"), ("r2", "running")]:
        store.write_run("a", run, run_row(status=status))
        store.write_curves("a", run, rows(range(0, 5), value=0.5), 0, 4)
    ledger = Ledger(f"sqlite:///{root}/ledger.db")
    ledger.ensure("a", ["r1", "r2", "r3"])
    for run in ("r1", "r2"):
        attempt = ledger.claim(run, "driver")
        if run == "r1":
            ledger.finish(run, "done", attempt=attempt)
    return ledger


def test_export_refuses_unfinished_cells_naming_them_unless_allowed(tmp_path, capsys):
    ledger = live_sweep(tmp_path / "store")
    with pytest.raises(
        ValueError, match=r"2 unfinished cell\(s\), r2 \(running\), r3 \(pending\).*--allow-unfinished"
    ):
        export_sweep(str(tmp_path / "store"), "a", tmp_path / "x", ledger)
    assert not (tmp_path / "x").exists()  # nothing written
    args = ["export", "a", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "x")]
    assert main(args) == 2 and "r3 (pending)" in capsys.readouterr().err  # the CLI asks the ledger
    assert main([*args, "--allow-unfinished"]) == 0
    assert "2 unfinished cell(s) exported as they stand" in capsys.readouterr().err
    assert (
        is_export(str(tmp_path / "x")) and ParquetStore(tmp_path / "x").runs("a")["run_hash"].nunique() == 2
    )
    ledger.finish("r2", "done", attempt=1)
    ledger.claim("r3", "driver")
    ledger.finish("r3", "failed", "boom", attempt=1)  # finished or failed: nothing left to wait for
    assert export_sweep(str(tmp_path / "store"), "a", tmp_path / "y", ledger)["unfinished"] == {}


def test_report_says_first_that_it_reads_unfinished_runs(tmp_path, capsys, monkeypatch):
    import analysis.report

    live_sweep(tmp_path / "store")
    fake = lambda store, sweep, out, n_boot: {"n_runs": 2, "findings": ["a finding"]}  # noqa: E731
    monkeypatch.setattr(analysis.report, "build_report", fake)
    args = ["report", "a", "--store", str(tmp_path / "store"), "--no-mlflow", "--out", str(tmp_path / "r")]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.startswith("WARNING: 2 cell(s) of sweep 'a' are unfinished, r2 (running), r3 (pending)")


def test_export_never_merges_into_a_live_store_or_a_folder_holding_the_source(tmp_path):
    live_sweep(tmp_path / "store")
    ParquetStore(tmp_path / "other").write_run("b", "r9", run_row())
    Ledger(f"sqlite:///{tmp_path}/other/ledger.db")  # another live store
    with pytest.raises(ValueError, match=r"is a live store \(it has ledger.db\)"):
        export_sweep(str(tmp_path / "store"), "a", tmp_path / "other", allow_unfinished=True)
    with pytest.raises(ValueError, match="holds the store"):
        export_sweep(str(tmp_path / "store"), "a", tmp_path, allow_unfinished=True)
    assert not (tmp_path / EXPORT_MARK).exists() and not (tmp_path / "other" / "runs" / "sweep_id=a").exists()
