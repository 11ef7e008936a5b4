"""Sweeps under faults on real Ray: a SIGKILLed trial worker, a SIGKILLed driver, a diverging cell,
a cell failing in its worker and Ctrl-C (the two-node cluster is in test_sweep_cluster.py, so the
two heaviest files run side by side under `make test`). The first three run packed (`pack`)."""

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

from search_scaling import cli
from search_scaling.store import Ledger
from search_scaling.sweep.spec import parse_sweep
from search_scaling.training.run import INJECT_FAULT_ENV
from tests.ray_processes import kill_tree

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]
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
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)  # fmt: skip
    return proc, tmp_path / store


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
        from search_scaling.training.schedule import eval_steps

        assert steps == set(eval_steps(cell.steps, cell.eval_points))
    return frame


def test_a_sigkilled_trial_is_retried_and_its_curves_end_complete(tmp_path):
    body = spec("killtrial", [0, 1], steps=600, concurrent=1, pack="auto")  # one pack of two
    proc, store = start_sweep(tmp_path, body)
    wait_for(lambda: parts(store) >= 4 or proc.poll() is not None, 300, "the trial to flush a few parts")
    assert proc.poll() is None, proc.communicate()[0]  # the sweep has not ended (Ray failed to start?)
    worker = subprocess.run(["pgrep", "-f", "ray::run_pack"], capture_output=True, text=True).stdout.split()
    assert worker, "no Ray worker running the pack"
    os.kill(int(worker[0]), signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
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


def test_a_diverging_cell_and_a_failing_cell_while_the_rest_completes(tmp_path, capsys):
    """One sweep (one Ray start) for two faults: a cell whose loss turns NaN ends ``diverged`` (not a
    failure); a cell failing after its claim and before training (the issue's `name: .hidden`
    case) ends ``failed`` with its error in the ledger, the runs row and `status`, after its
    retries; the cells that transfer from it (init_from) wait for it, then fail with the reason; the
    others complete, and the sweep exits 1 naming the failed cells. The three cells train as one pack."""
    body = {**spec("faults", range(3), steps=60, pack="auto"), "retries": 1}
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
    ledger = Ledger(f"sqlite:///{store / 'ledger.db'}")
    assert ledger.statuses(hashes) == {hashes[0]: "done", bad_loss: "diverged", broken: "failed"}
    reason = f"ValueError: init_from: source run {broken} is 'failed': {error}"
    for dependant in dependants:  # each waited for its source, then failed with the reason
        assert ledger.get(dependant)["status"] == "failed" and reason in ledger.get(dependant)["error"]
        assert f"failed {dependant}: {reason}" in out
    row = ledger.get(broken)
    assert row["attempts"] == 2 and error in row["error"]  # retried once
    runs = pd.read_parquet(store / "runs").set_index("run_hash")
    assert runs.loc[bad_loss, "status"] == "diverged"
    assert list(runs.loc[broken, ["status", "error"]]) == ["failed", row["error"]]
    assert cli.main(["status", "faults", "--store", str(store)]) == 0
    assert f"failed {broken}: {error}" in capsys.readouterr().err


def test_ctrl_c_on_a_sweep_releases_its_cells_and_leaves_no_temporaries(tmp_path):
    body = spec("ctrlc", [0], steps=50_000, concurrent=1)
    proc, store = start_sweep(tmp_path, body)
    wait_for(lambda: parts(store) >= 1, 300, "the cell to flush curves")
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's foreground group
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in out, out
    (cell,) = parse_sweep(body).run_hashes
    row = Ledger(f"sqlite:///{store / 'ledger.db'}").get(cell)
    assert (row["status"], row["error"]) == ("failed", "interrupted")
    runs = pd.read_parquet(store / "runs")  # written by the worker itself as it stopped
    assert list(runs[["status", "error"]].iloc[0]) == ["failed", "interrupted"]
    assert list(store.rglob("*.tmp")) == []
