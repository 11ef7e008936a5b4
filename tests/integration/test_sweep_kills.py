"""Sweeps under SIGKILL on real Ray, packed (`pack`): a killed trial worker is retried and its curves
end complete; a killed driver, restarted, runs only the remaining cells. (Split from
test_sweep_faults.py so that `make test`'s two workers share the heavy files evenly.)"""

from __future__ import annotations

import os
import signal
import subprocess

import pandas as pd
import pytest

from search_scaling.store import Ledger
from search_scaling.sweep.spec import parse_sweep
from tests.integration.sweeps import curves_complete, parts, spec, start_sweep, wait_for
from tests.ray_processes import kill_tree

pytestmark = pytest.mark.integration


def test_a_sigkilled_trial_is_retried_and_its_curves_end_complete(tmp_path):
    body = spec("killtrial", [0, 1], steps=600, concurrent=1, pack="on")  # one pack of two
    proc, store = start_sweep(tmp_path, body)
    wait_for(lambda: parts(store) >= 4 or proc.poll() is not None, 300, "the trial to flush a few parts")
    assert proc.poll() is None, proc.communicate()[0]  # the sweep has not ended (Ray failed to start?)
    worker = subprocess.run(["pgrep", "-f", "ray::run_pack"], capture_output=True, text=True).stdout.split()
    assert worker, "no Ray worker running the pack"
    os.kill(int(worker[0]), signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "(raylet)" not in out and "\x1b[" not in out, out  # Ray's messages went to the log file
    curves_complete(store, body)
    statuses = Ledger(f"sqlite:///{store / 'ledger.db'}").statuses(parse_sweep(body).run_hashes)
    assert list(statuses.values()) == ["done", "done"]


def test_a_sigkilled_driver_restarted_runs_only_the_remaining_cells(tmp_path):
    body = spec("killdriver", range(4), steps=150, concurrent=1, pack=2)  # two packs of two
    fast_stale = {"SEARCH_SCALING_STALE_AFTER_S": "12"}  # the orphaned cell is retaken after 12 s, not 60
    proc, store = start_sweep(tmp_path, body, env=fast_stale)
    ledger_url = f"sqlite:///{store / 'ledger.db'}"
    hashes = parse_sweep(body).run_hashes
    wait_for(lambda: (store / "ledger.db").exists() and Ledger(ledger_url).counts(hashes)["done"] >= 2, 400,
             "two cells to finish")  # fmt: skip
    kill_tree(proc.pid)  # the driver and the local Ray it started (only those: not `ray stop`)
    proc.wait()
    finished_before = {h for h, s in Ledger(ledger_url).statuses(hashes).items() if s == "done"}
    started = {r.run_hash: r.started_at for r in pd.read_parquet(store / "runs").itertuples()}
    again, _ = start_sweep(tmp_path, body, env=fast_stale)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out
    assert Ledger(ledger_url).counts(hashes)["done"] == 4
    runs = pd.read_parquet(store / "runs")
    for row in runs.itertuples():  # finished cells were not run again
        if row.run_hash in finished_before:
            assert row.started_at == started[row.run_hash]
    curves_complete(store, body)
