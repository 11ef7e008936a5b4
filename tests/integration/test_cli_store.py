"""The store commands as a user runs them: train through the stores (the MLflow UI on a sweep is in
test_report)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "search_scaling.cli"]


def test_train_fills_the_store_and_a_rerun_is_a_no_op(tmp_path):
    args = [*CLI, "train", "--size", "3", "--model", "L1-D8", "--steps", "20", "--eval-points", "3",
            "--eval-examples", "16", "--store", str(tmp_path)]  # fmt: skip
    first = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "status done" in first.stdout
    curves = pd.read_parquet(tmp_path / "curves")
    assert {"exact", "loss", "answer_logprob"} <= set(curves["metric"])
    again = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert "nothing to do" in again.stdout and len(pd.read_parquet(tmp_path / "curves")) == len(curves)
