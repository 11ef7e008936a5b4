"""`search-scaling tune` under Ctrl-C, on real Ray Tune: the trial in flight ends ``failed``
"interrupted" (not ``pruned`` "stopped by the scheduler", which is what Tune's own SIGINT handler
made of it), the search is not recorded as ended (a rerun resumes it instead of printing "no trial
finished" for good), and the exit code is 130."""

from __future__ import annotations

import os
import signal
import subprocess

import pandas as pd
import pytest
import yaml

from search_scaling.store import Ledger
from search_scaling.sweep.spec import parse_sweep
from search_scaling.sweep.tune import _previous_search, meta_path
from search_scaling.sweep.tune_plan import tune_groups
from tests.integration.sweeps import CLI, _default_sigint, parts, wait_for
from tests.ray_processes import kill_tree

pytestmark = pytest.mark.integration

SPEC = {"name": "ti", "tasks": [{"task": "maze", "sizes": [3]}], "models": ["L1-D8"],
        "training": {"batch_size": 16, "eval_examples": 16, "eval_points": 30},
        "budget": {"steps": 50_000}, "checkpoint_every_s": 0,
        "tune": {"space": {"lr": {"loguniform": [1.0e-3, 2.0e-3]}}, "samples": 1, "baseline": False,
                 "budget": {"fraction": 1.0}, "max_concurrent": 1}}  # fmt: skip


def test_ctrl_c_on_tune_interrupts_its_trials_and_does_not_end_the_search(tmp_path):
    path, store = tmp_path / "ti.yaml", tmp_path / "store"
    path.write_text(yaml.safe_dump(SPEC))
    cmd = [*CLI, "tune", str(path), "--store", str(store), "--no-mlflow", "--verbose", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=_default_sigint)  # fmt: skip
    try:
        wait_for(lambda: parts(store) >= 1, 120, "the trial to flush curves")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
        out, _ = proc.communicate(timeout=60)
    finally:
        kill_tree(proc.pid)
    assert proc.returncode == 130 and "interrupted" in out and "no trial finished" not in out, out
    runs = pd.read_parquet(store / "runs")
    (run_hash,) = runs["run_hash"]
    row = Ledger(f"sqlite:///{store / 'ledger.db'}").get(run_hash)
    assert (row["status"], row["error"]) == ("failed", "interrupted")  # claimable: a rerun resumes it
    assert list(runs[["status", "error"]].iloc[0]) == ["failed", "interrupted"]
    sweep = parse_sweep(SPEC, str(path))
    from search_scaling.store import Stores

    stores = Stores.resolve(store, mlflow=False, create=False)
    assert not meta_path(stores, "ti").exists()  # the search is not recorded as ended ...
    assert _previous_search(stores, sweep, tune_groups(sweep)[0]) is None  # ... so a rerun searches
