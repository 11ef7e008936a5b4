"""A real local Ray sweep end to end into a temporary store, packed (2 seeds train as one pack);
growing the grid runs only the new cells. One task entry transfers from the other (init_from) within
the same `search-scaling sweep`: each of its cells trains alone and starts after, and from the final
weights of, its (packed) source."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "search_scaling.cli"]
SPEC = {
    "name": "tiny",
    "tasks": [
        {"task": "maze", "sizes": [3]},
        {"task": "maze", "sizes": [3], "init_from": {"task": "maze"}, "freeze": ["embed"]},
    ],
    "models": ["L1-D8"],
    "seeds": [0, 1],
    "training": {"eval_points": 4, "eval_examples": 16},
    "budget": {"steps": 20},
    "resources": {"cpus": 1},
    "max_concurrent": 2,
    "pack": "on",
}


def _sweep(tmp_path, spec):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    cmd = [*CLI, "sweep", str(path), "--store", str(tmp_path / "store"), "--no-report"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_local_sweep_fills_the_store_and_resumes(tmp_path):
    first = _sweep(tmp_path, SPEC)
    assert first.returncode == 0, first.stdout + first.stderr
    runs = pd.read_parquet(tmp_path / "store" / "runs")
    assert "4 cell(s) to run in 3 pack(s)" in first.stdout  # a pack of 2, 2 transfers alone
    assert len(runs) == 4 and set(runs["status"]) == {"done"}
    curves = pd.read_parquet(tmp_path / "store" / "curves")
    assert not curves.duplicated(["run_hash", "step", "split", "metric"]).any()
    assert curves.groupby("run_hash")["step"].max().eq(20).all()  # every member's own curve, to the end
    _check_transfer(runs, curves)
    grown = _sweep(tmp_path, {**SPEC, "seeds": [0, 1, 2]})  # a new cell and its transfer
    assert grown.returncode == 0, grown.stdout + grown.stderr
    assert "2 cell(s) to run in 2 pack(s)" in grown.stdout
    assert "] running 2 cell(s), 2 at a time, 4 finished before (reused)" in grown.stdout
    assert "; 2 trained now, 4 reused from earlier runs; " in grown.stdout
    runs = pd.read_parquet(tmp_path / "store" / "runs")
    assert len(runs) == 6
    _check_parent_run(tmp_path / "store")
    assert (runs.sort_values("started_at")["started_at"].iloc[:4] < runs["started_at"].max()).all()


def _check_parent_run(store) -> None:
    """The grown sweep reopened its MLflow parent run and ended it again; MLflow params are
    write-once, so what the growth changed is a grid.* tag."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`search_scaling.kind` = 'sweep'")
    assert parent.info.status == "FINISHED" and parent.data.metrics["sweep/done"] == 6
    assert parent.data.params["cells"] == "4" and parent.data.tags["grid.cells"] == "6"
    assert parent.data.params["axis.seed"] == "0, 1" and parent.data.tags["grid.axis.seed"] == "0, 1, 2"
    assert len(client.get_metric_history(parent.info.run_id, "sweep/total")) >= 2  # both runs logged


def _check_transfer(runs: pd.DataFrame, curves: pd.DataFrame) -> None:
    """Each transfer started once its source had finished, from its source's final weights."""
    specs = {r.run_hash: json.loads(r.spec_json) for r in runs.itertuples()}
    loss = curves[(curves["split"] == "eval") & (curves["metric"] == "loss")].set_index(["run_hash", "step"])
    dependants = [h for h, spec in specs.items() if spec["init_from"]]
    assert len(dependants) == 2
    for run_hash in dependants:
        source = specs[run_hash]["init_from"]["run"]
        assert specs[source]["keep_checkpoints"] == "final"  # what its dependant needs
        assert specs[source]["seed"] == specs[run_hash]["seed"]
        by_hash = runs.set_index("run_hash")
        assert by_hash.loc[run_hash, "started_at"] >= by_hash.loc[source, "finished_at"]
        # the source trained in a pack (one batched evaluation of its members): equal within fp32
        final = loss.loc[(source, specs[source]["steps"]), "value"]
        assert loss.loc[(run_hash, 0), "value"] == pytest.approx(final, rel=1e-5)
