"""Finished cells that cannot serve a rerun as they are: a transfer from a step of a finished source
that kept no weights is refused by `validate` and `sweep` before Ray starts, naming the source, the
step and the way out; a finished cell whose curve part is corrupt is named by the rerun (exit 1) and
`sweep --retrain HASH` trains it again in place, keeping every other cell."""

from __future__ import annotations

import pytest
import yaml

from search_scaling.cli import main
from search_scaling.store import Stores, record_run
from search_scaling.sweep.spec import parse_sweep
from tests.integration.sweeps import curves_complete, spec

pytestmark = pytest.mark.integration


def _done(stores: Stores, cells, **changes) -> None:
    for cell in cells:  # trained here, without Ray: the store then holds finished cells
        assert record_run(cell.with_(**changes), stores).status == "done"


def test_a_transfer_from_a_step_a_finished_source_did_not_keep_is_refused_before_ray(tmp_path, capsys):
    import ray

    body = {**spec("xfer", [0], steps=20), "training": {"eval_points": 3, "eval_examples": 16}}
    body["tasks"].append({"task": "maze", "sizes": [3], "init_from": {"task": "maze", "seed": 0, "step": 4}})
    path = tmp_path / "xfer.yaml"
    path.write_text(yaml.safe_dump(body))
    source = parse_sweep(body, str(path)).cells[0]
    stores = Stores.resolve(tmp_path / "store", mlflow=False)
    _done(stores, [source], keep_checkpoints="none")  # the source, trained before the transfer was added
    for extra in ([], ["--no-mlflow"]):  # validate, then sweep
        command = "sweep" if extra else "validate"
        assert main([command, str(path), "--store", str(stores.root), *extra]) == 2
        err = capsys.readouterr().err
        assert f"source run {source.run_hash}" in err and "kept no weights at step 4" in err
        assert f"--retrain {source.run_hash}" in err and "fresh store" in err
    assert not ray.is_initialized()  # refused before Ray started


def test_a_rerun_names_a_corrupt_part_and_retrain_trains_that_cell_in_place(tmp_path, capsys, monkeypatch):
    import ray

    monkeypatch.setenv("RAY_ADDRESS", "local")
    body = {
        **spec("fix", [0, 1], steps=20, concurrent=1),
        "training": {"eval_points": 3, "eval_examples": 16},
    }
    path = tmp_path / "fix.yaml"
    path.write_text(yaml.safe_dump(body))
    cells = parse_sweep(body, str(path)).cells
    stores = Stores.resolve(tmp_path / "store", mlflow=False)
    _done(stores, cells)
    broken, kept = cells[0].run_hash, cells[1].run_hash
    part = sorted((tmp_path / "store" / "curves" / "sweep_id=fix" / f"run_hash={broken}").glob("part-*"))[-1]
    part.write_bytes(part.read_bytes()[:-20])  # a truncated write
    other = {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob(f"run_hash={kept}/*")}
    args = ["sweep", str(path), "--store", str(tmp_path / "store"), "--no-mlflow", "--no-report"]
    assert main(args) == 1  # every cell finished, but one curve does not read back
    err = capsys.readouterr().err
    assert f"corrupt curve part of finished cell {broken}: {part}" in err and f"--retrain {broken}" in err
    try:
        assert main([*args, "--retrain", broken[:8]]) == 0  # a unique prefix is enough
    finally:
        ray.shutdown()
    assert f"retrain {broken}: reset to pending" in capsys.readouterr().out
    assert stores.ledger.get(broken)["attempts"] == 2 and stores.ledger.get(kept)["attempts"] == 1
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob(f"run_hash={kept}/*")} == other
    curves_complete(tmp_path / "store", body)  # every evaluation step of both cells, no duplicates
