"""A real local Ray sweep end to end into a temporary store, packed (2 model sizes x 4 seeds train as
2 packs); re-running it is a no-op; growing the grid runs only the new cells."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "search_scaling.cli"]
SPEC = {
    "name": "tiny",
    "tasks": [{"task": "maze", "sizes": [3]}],
    "models": ["L1-D8", "L2-D16"],
    "seeds": [0, 1, 2, 3],
    "training": {"eval_points": 4, "eval_examples": 16},
    "budget": {"steps": 20},
    "resources": {"cpus": 1},
    "max_concurrent": 2,
    "pack": "auto",
}


def _sweep(tmp_path, spec):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    cmd = [*CLI, "sweep", str(path), "--store", str(tmp_path / "store")]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_local_sweep_fills_the_store_and_resumes(tmp_path):
    first = _sweep(tmp_path, SPEC)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "8 cell(s) to run in 2 pack(s)" in first.stdout
    runs = pd.read_parquet(tmp_path / "store" / "runs")
    assert len(runs) == 8 and set(runs["status"]) == {"done"}
    curves = pd.read_parquet(tmp_path / "store" / "curves")
    assert not curves.duplicated(["run_hash", "step", "split", "metric"]).any()
    assert curves.groupby("run_hash")["step"].max().eq(20).all()  # every member's own curve, to the end
    grown = _sweep(tmp_path, {**SPEC, "seeds": [0, 1, 2, 3, 4]})  # one new cell per model
    assert grown.returncode == 0, grown.stdout + grown.stderr
    assert "2 cell(s) to run in 2 pack(s)" in grown.stdout
    runs = pd.read_parquet(tmp_path / "store" / "runs")
    assert len(runs) == 10
    assert (runs.sort_values("started_at")["started_at"].iloc[:8] < runs["started_at"].max()).all()
