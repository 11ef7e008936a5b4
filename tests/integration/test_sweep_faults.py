"""Sweeps under faults on real Ray: a diverging cell, a cell failing in its worker, and Ctrl-C (the
SIGKILLs are in test_sweep_kills.py, the two-node cluster in test_sweep_cluster.py, so the heaviest
files run side by side under `make test`). The faults sweep runs packed (`pack`)."""

from __future__ import annotations

import os
import signal

import pandas as pd
import pytest

from search_scaling import cli
from search_scaling.store import Ledger
from search_scaling.sweep.spec import parse_sweep
from search_scaling.training.run import INJECT_FAULT_ENV
from tests.integration.sweeps import parts, spec, start_sweep, wait_for
from tests.ray_processes import kill_tree

pytestmark = pytest.mark.integration


def test_a_diverging_cell_and_a_failing_cell_while_the_rest_completes(tmp_path, capsys):
    """One sweep (one Ray start) for two faults: a cell whose loss turns NaN ends ``diverged`` (not a
    failure); a cell failing after its claim and before training (the issue's `name: .hidden`
    case) ends ``failed`` with its error in the ledger, the runs row and `status`, after its
    retries; the cells that transfer from it (init_from) wait for it, then fail with the reason (a
    ValueError, which a retry would repeat: not retried); the
    others complete, and the sweep exits 1 naming the failed cells. The three cells train as one pack."""
    body = {**spec("faults", range(3), steps=60, pack="on"), "retries": 1}
    body["tasks"].append({"task": "maze", "sizes": [3], "init_from": {"task": "maze", "seed": 2}})
    hashes = parse_sweep(body).run_hashes[:3]
    dependants = parse_sweep(body).run_hashes[3:]
    bad_loss, broken = hashes[1], hashes[2]
    faults = {"SEARCH_SCALING_INJECT_NAN": f"{bad_loss}:20", INJECT_FAULT_ENV: f"{broken}:setup"}
    proc, store = start_sweep(tmp_path, body, env=faults)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1, out
    assert "6 cell(s) to run in 4 pack(s)" in out  # one pack of three; transfers train alone
    error = f"RuntimeError: run {broken}: fault injected at 'setup'"
    assert f"failed {broken}: {error}" in out and "'running'" not in out
    assert "\x1b[" not in out and "(raylet)" not in out  # no colour codes, no Ray messages in piped output
    ledger = Ledger(f"sqlite:///{store / 'ledger.db'}")
    assert ledger.statuses(hashes) == {hashes[0]: "done", bad_loss: "diverged", broken: "failed"}
    reason = f"ValueError: init_from: source run {broken} is 'failed': {error}"
    for dependant in dependants:  # each waited for its source, then failed with the reason, once:
        assert ledger.get(dependant)["status"] == "failed" and reason in ledger.get(dependant)["error"]
        assert ledger.get(dependant)["attempts"] == 1  # a ValueError repeats on a retry: not retried
        assert f"failed {dependant}: {reason}" in out
    row = ledger.get(broken)
    assert row["attempts"] == 2 and error in row["error"]  # retried once
    runs = pd.read_parquet(store / "runs").set_index("run_hash")
    assert runs.loc[bad_loss, "status"] == "diverged"
    assert list(runs.loc[broken, ["status", "error"]]) == ["failed", row["error"]]
    assert cli.main(["status", "faults", "--store", str(store)]) == 0
    assert f"failed {broken}: {error}" in capsys.readouterr().err


@pytest.mark.parametrize("stop", ["ctrl-c", "kill"])
def test_ctrl_c_or_kill_on_a_sweep_releases_its_cells_and_leaves_no_temporaries(tmp_path, stop):
    body = spec("ctrlc", [0], steps=50_000, concurrent=1)
    proc, store = start_sweep(tmp_path, body)
    try:
        wait_for(lambda: parts(store) >= 1, 300, "the cell to flush curves")
        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
        else:
            os.kill(proc.pid, signal.SIGTERM)  # `kill PID` of the driver alone, or a scheduler's stop
        out, _ = proc.communicate(timeout=120)
    finally:
        kill_tree(proc.pid)  # a sweep that did not stop must not train on through the rest of the suite
    assert proc.returncode == 130 and "interrupted" in out, out
    (cell,) = parse_sweep(body).run_hashes
    row = Ledger(f"sqlite:///{store / 'ledger.db'}").get(cell)
    assert (row["status"], row["error"]) == ("failed", "interrupted")
    runs = pd.read_parquet(store / "runs")  # written by the worker itself as it stopped
    assert list(runs[["status", "error"]].iloc[0]) == ["failed", "interrupted"]
    assert list(store.rglob("*.tmp")) == []
