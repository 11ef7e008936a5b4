"""Why `load_run` / `inspect` find no weights, said right: an exported store (runs and curves only),
a run that failed before keeping any, one that kept none, one whose kept files are missing. Each
used to be blamed on ``keep_checkpoints: none``."""

from __future__ import annotations

import shutil

import pytest

import search_scaling
from search_scaling.cli import main
from search_scaling.store import Stores, record_run
from search_scaling.training import RunSpec

RUN = RunSpec(task="maze", size=3, model="L1-D8", steps=4, eval_points=2, eval_examples=16,
              keep_checkpoints="final", sweep="w")  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("w") / "store"
    assert record_run(RUN, Stores.resolve(root, mlflow=False)).status == "done"
    return root


def test_an_exported_store_says_it_is_an_export_and_names_the_source(store, tmp_path, capsys):
    assert main(["export", "w", "--store", str(store), "--out", str(tmp_path / "x")]) == 0
    with pytest.raises(ValueError, match=r"is an export \(runs and curves only, no weights\); load it from"):
        search_scaling.load_run(tmp_path / "x", RUN.run_hash)
    assert main(["inspect", RUN.run_hash, "--store", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "is an export" in err and str(store) in err and "keep_checkpoints: none" not in err


def test_a_failed_run_and_missing_files_are_named_for_what_they_are(store, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    shutil.rmtree(copy / "weights")
    shutil.rmtree(copy / "checkpoints")
    with pytest.raises(ValueError, match=r"keep_checkpoints: final, but its weights are not in store"):
        search_scaling.load_run(copy, RUN.run_hash)
    stores = Stores.resolve(copy, mlflow=False, create=False)
    row = stores.parquet.runs("w").iloc[0].to_dict()
    stores.parquet.write_run("w", RUN.run_hash, {**row, "status": "failed", "error": "RuntimeError: boom"})
    with pytest.raises(ValueError, match=r"is 'failed' \(RuntimeError: boom\) and kept no checkpoint"):
        search_scaling.load_run(copy, RUN.run_hash)
