"""The store commands as a user runs them: train through the stores, then the MLflow UI."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest

from tests.postgres import free_port

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


def test_ui_serves_the_store_on_localhost(tmp_path):
    port = free_port()
    proc = subprocess.Popen([*CLI, "ui", "--store", str(tmp_path), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("MLflow UI did not answer on 127.0.0.1 within 90 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
