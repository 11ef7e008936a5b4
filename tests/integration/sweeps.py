"""What the sweep fault tests share: a tiny maze spec, a sweep started as a user starts it (its own
process group, so Ctrl-C and SIGKILL reach what it started), waits, and the completeness check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from search_scaling.sweep.spec import parse_sweep
from search_scaling.training.schedule import eval_steps

CLI = [sys.executable, "-m", "search_scaling.cli"]
KEY = ["run_hash", "step", "split", "metric"]


def spec(name: str, seeds, steps: int, concurrent: int = 2, pack="off") -> dict:
    return {"name": name, "tasks": [{"task": "maze", "sizes": [3]}], "models": ["L1-D8"],
            "seeds": list(seeds), "training": {"eval_points": 30, "eval_examples": 16},
            "budget": {"steps": steps}, "max_concurrent": concurrent, "retries": 3,
            "checkpoint_every_s": 0, "pack": pack}  # fmt: skip


def start_sweep(tmp_path, body: dict, env=None, store="store") -> tuple[subprocess.Popen, Path]:
    path = tmp_path / f"{body['name']}.yaml"
    path.write_text(yaml.safe_dump(body))
    cmd = [*CLI, "sweep", str(path), "--store", str(tmp_path / store), "--no-mlflow", "--no-report"]
    # SIGINT at its default, as in a terminal: a test run started in the background (`make test &`)
    # ignores SIGINT, and the sweep would inherit that and never see the Ctrl-C test's signal.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True,
                            preexec_fn=_default_sigint)  # fmt: skip
    return proc, tmp_path / store


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def parts(store: Path) -> int:
    return len(list((store / "curves").rglob("part-*.parquet"))) if (store / "curves").exists() else 0


def curves_complete(store: Path, body: dict) -> pd.DataFrame:
    frame = pd.read_parquet(store / "curves")
    assert not frame.duplicated(KEY).any()
    cells = parse_sweep(body).cells
    for cell in cells:  # every scheduled evaluation step of every cell is there
        steps = set(frame[(frame.run_hash == cell.run_hash) & (frame.split == "eval")]["step"])
        assert steps == set(eval_steps(cell.steps, cell.eval_points))
    return frame
