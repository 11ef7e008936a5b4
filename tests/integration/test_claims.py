"""One trainer per cell and no stuck cells, with the real ledger (SQLite), Parquet store and
Lightning: heartbeats during a slow evaluation, fencing of a superseded trainer, failures between
claim and training, Ctrl-C, and two drivers on a fresh store (MLflow on SQLite)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from search_scaling import cli
from search_scaling.store import Mirror, Stores, parquet, record_run
from search_scaling.store.ledger import LostClaim
from search_scaling.store.mirror import HASH_TAG
from search_scaling.sweep.spec import parse_sweep
from search_scaling.training import RunSpec
from search_scaling.training import run as run_module
from search_scaling.training.schedule import eval_steps

pytestmark = pytest.mark.integration
TINY = dict(task="maze", size=3, model="L1-D8", steps=10, eval_points=3, eval_examples=8, sweep="claims")
STALE = 0.6  # seconds: beats every STALE / 12 = 0.05 s
KEY = ["step", "split", "metric"]


def during_step0_eval(monkeypatch, action):
    """Run ``action()`` inside the first evaluation (step 0) of the next run, as if it took long."""
    real, calls = run_module.evaluate, []

    def evaluate(*args, **kwargs):
        if not calls:
            calls.append(action())
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "evaluate", evaluate)
    return calls


def assert_complete(stores, result) -> None:
    frame = stores.parquet.curves(with_runs=False)
    assert not frame.duplicated(KEY).any() and len(frame) == len(result.rows)
    assert set(frame[frame.split == "eval"]["step"]) == set(eval_steps(result.steps, TINY["eval_points"]))


def test_a_live_cell_is_not_taken_over_during_a_slow_evaluation(tmp_path, monkeypatch):
    """The two-driver race: driver B looks at the cell while A's step-0 evaluation runs for many
    times the stale threshold, with no training progress and no curve flush meanwhile."""
    stores, spec = Stores.resolve(tmp_path, mlflow=False), RunSpec(**TINY)

    def driver_b():
        time.sleep(3 * STALE)
        return record_run(spec, stores, owner="driver-B", stale_after_s=STALE)

    seen = during_step0_eval(monkeypatch, driver_b)
    result = record_run(spec, stores, owner="driver-A", stale_after_s=STALE)
    assert seen == [None]  # B found the cell alive and did nothing
    row = stores.ledger.get(spec.run_hash)
    assert result.status == row["status"] == "done" and row["attempts"] == 1
    assert_complete(stores, result)


def test_a_superseded_trainer_stops_at_its_next_write(tmp_path, monkeypatch):
    """A's claim is taken over mid-evaluation (as after a long freeze): A must not flush, checkpoint
    or finish over B, and B then trains the cell cleanly."""
    stores, spec = Stores.resolve(tmp_path, mlflow=False), RunSpec(**TINY)
    seen = during_step0_eval(monkeypatch, lambda: stores.ledger.claim(spec.run_hash, "driver-B", -1))
    with pytest.raises(LostClaim, match="no longer holds|lost its claim"):
        record_run(spec, stores, owner="driver-A", stale_after_s=STALE, checkpoint_every_s=0)
    assert seen == [2]
    row = stores.ledger.get(spec.run_hash)
    assert (row["status"], row["owner"], row["attempts"]) == ("running", "driver-B", 2)
    assert stores.parquet.curves(with_runs=False).empty
    assert not (stores.workdir / spec.run_hash / run_module.CHECKPOINT).exists()
    monkeypatch.undo()
    result = record_run(spec, stores, owner="driver-B", stale_after_s=STALE)  # B's retry
    assert result.status == "done" and stores.ledger.get(spec.run_hash)["status"] == "done"
    assert_complete(stores, result)


def test_a_failure_between_claim_and_training_ends_the_cell_failed(tmp_path):
    """The issue's `name: .hidden`: the store refuses the partition key after the claim."""
    stores, spec = Stores.resolve(tmp_path, mlflow=False), RunSpec(**{**TINY, "sweep": ".hidden"})
    for attempt in (1, 2):  # a rerun retries it instead of "nothing to do: running"
        with pytest.raises(ValueError, match="store key"):
            record_run(spec, stores)
        row = stores.ledger.get(spec.run_hash)
        assert row["status"] == "failed" and row["attempts"] == attempt
        assert "ValueError: store key must be non-empty" in row["error"]


def test_train_on_an_unwritable_store_exits_non_zero_and_a_rerun_retrains(tmp_path, capsys):
    store = tmp_path / "store"
    store.mkdir()
    (store / "runs").write_text("a file where the runs table should be")  # every runs write fails
    args = ["train", "--size", "3", "--model", "L1-D8", "--steps", "10", "--eval-points", "3",
            "--eval-examples", "8", "--store", str(store), "--no-mlflow"]  # fmt: skip
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "did not finish" in err and "ledger: 'failed'; the same command trains it again" in err
    run_hash = RunSpec(**{**TINY, "sweep": ""}).run_hash
    (row,) = Stores.resolve(store, mlflow=False).ledger.errors([run_hash]).values()
    assert str(store / "runs") in row  # the error names where
    (store / "runs").unlink()
    assert cli.main(args) == 0 and "status done" in capsys.readouterr().out


def test_ctrl_c_releases_the_cell_and_leaves_no_temporaries(tmp_path, monkeypatch):
    """Ctrl-C while a curve part is being written: the cell ends failed 'interrupted' (not
    'running'), no temporary is left, SIGINT works again, and a rerun trains the cell."""
    stores, spec = Stores.resolve(tmp_path, mlflow=False), RunSpec(**TINY)
    real = parquet.pq.write_table

    def ctrl_c_in_curve_write(table, where, **kwargs):
        real(table, where, **kwargs)
        if "/curves/" in str(where):
            raise KeyboardInterrupt

    handler = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(parquet.pq, "write_table", ctrl_c_in_curve_write)
    with pytest.raises(KeyboardInterrupt):
        record_run(spec, stores, checkpoint_every_s=0)
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is handler  # Lightning had set it to SIG_IGN
    row = stores.ledger.get(spec.run_hash)
    assert (row["status"], row["error"]) == ("failed", "interrupted")
    assert list(stores.parquet.runs()[["status", "error"]].iloc[0]) == ["failed", "interrupted"]
    assert list(tmp_path.rglob("*.tmp")) == []
    result = record_run(spec, stores)
    assert result.status == "done"
    assert_complete(stores, result)


DRIVER = """
import json, pathlib, sys, time
from search_scaling.store import Stores
from search_scaling.sweep.runner import prepare
from search_scaling.sweep.spec import parse_sweep
store, body, i = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
sweep = parse_sweep(body)
go = pathlib.Path(store + ".go")
pathlib.Path(store + f".ready{i}").touch()
while not go.exists():  # start the set-up of all drivers at the same moment
    time.sleep(0.005)
print(len(prepare(sweep, Stores.resolve(store))))
"""


def test_two_drivers_set_up_a_fresh_store_at_once(tmp_path):
    """Ledger tables, ledger rows, the MLflow database, experiment and parent run, all created by
    two drivers at the same moment on a store that does not exist yet."""
    body = {"name": "fresh", "tasks": [{"task": "maze", "sizes": [3]}], "models": ["L1-D8"],
            "seeds": [0, 1], "budget": {"steps": 10}}  # fmt: skip
    store = tmp_path / "store"
    procs = [subprocess.Popen([sys.executable, "-c", DRIVER, str(store), json.dumps(body), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]  # fmt: skip
    deadline = time.time() + 120
    while len(list(tmp_path.glob("store.ready*"))) < 2 and time.time() < deadline:
        time.sleep(0.05)
    (tmp_path / "store.go").touch()
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert not any("warning" in out for out in outs), outs
    hashes = parse_sweep(body).run_hashes
    stores = Stores.resolve(store)
    assert stores.ledger.counts(hashes) == {"pending": 2}
    client = Mirror(stores.tracking_uri).client
    exp = client.get_experiment_by_name("fresh")
    parents = client.search_runs([exp.experiment_id], f"tags.`{HASH_TAG}` = 'sweep:fresh'")
    assert len(parents) == 1
