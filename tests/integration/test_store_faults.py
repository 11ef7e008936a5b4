"""Stores under faults, with real processes: SIGKILLed writers, 8 concurrent MLflow writers on
SQLite and PostgreSQL, MLflow unreachable during training and backfilled afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from search_scaling.store import Mirror, Stores, record_run
from search_scaling.store.recorder import sync_mlflow
from search_scaling.training import RunSpec
from tests.postgres import free_port

pytestmark = pytest.mark.integration
SPEC = dict(task="maze", size=3, model="L1-D8", steps=160, eval_points=30, eval_examples=32, sweep="faults")
KEY = ["step", "split", "metric"]

WORKER = """
import sys
from search_scaling.store import Stores, record_run
from search_scaling.training import RunSpec
spec = RunSpec(**{SPEC!r})
record_run(spec, Stores.resolve(sys.argv[1], mlflow=False), owner="trial-1", checkpoint_every_s=0)
"""


def _parts(root):
    return list((root / "curves").rglob("part-*.parquet")) if (root / "curves").exists() else []


def test_sigkilled_writer_leaves_no_partial_or_duplicate_rows(tmp_path):
    reference = record_run(RunSpec(**SPEC), Stores.resolve(tmp_path / "ref", mlflow=False))
    root = tmp_path / "store"
    code = WORKER.replace("{SPEC!r}", repr(SPEC))
    for kill_after_parts in (3, 9, 15):  # kill three attempts at different points, mid-flush or not
        proc = subprocess.Popen([sys.executable, "-c", code, str(root)])
        while len(_parts(root)) < kill_after_parts and proc.poll() is None:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        frame = Stores.resolve(root, mlflow=False).parquet.curves(with_runs=False)
        assert not frame.duplicated(KEY).any()  # what a reader sees after any kill
    stores = Stores.resolve(root, mlflow=False)
    result = record_run(RunSpec(**SPEC), stores, owner="trial-1")  # the retry resumes
    assert result.status == "done"
    got = stores.parquet.curves(with_runs=False).sort_values(KEY).reset_index(drop=True)
    want = reference.rows
    assert not got.duplicated(KEY).any() and len(got) == len(want)
    expected = {(r["step"], r["split"], r["metric"]): r["value"] for r in want}
    assert {tuple(k): v for k, v in zip(got[KEY].itertuples(index=False), got["value"])} == expected
    assert stores.ledger.get(result.run_hash)["status"] == "done"


MLFLOW_WRITER = """
import sys
from search_scaling.store import Mirror
uri, i = sys.argv[1], int(sys.argv[2])
mirror = Mirror(uri)
run = mirror.child_run("conc", f"hash{i}", f"cell{i}", {"i": i, "nested": {"a": 1}}, {"worker": i})
rows = [{"step": s, "split": "eval", "metric": m, "value": s * 0.5 + i, "wall_time": s * 0.01}
        for s in range(250) for m in ("loss", "exact")]
for lo in range(0, 500, 100):  # several flushes, as a run does
    mirror.log_curves(run, rows[lo:lo + 100])
mirror.finish(run, "done")
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def tracking_uri(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlflow.db'}"
    return request.getfixturevalue("pg_database")


def test_eight_concurrent_mlflow_writers_all_succeed(tracking_uri, tmp_path):
    driver = Mirror(tracking_uri, tmp_path / "artifacts")
    driver.parent_run("conc")  # the driver creates database, experiment and parent before workers
    procs = [subprocess.Popen([sys.executable, "-c", MLFLOW_WRITER, tracking_uri, str(i)]) for i in range(8)]
    assert [p.wait(timeout=300) for p in procs] == [0] * 8
    client = driver.client
    exp = client.get_experiment_by_name("conc").experiment_id
    children = [r for r in client.search_runs([exp]) if r.info.run_name.startswith("cell")]
    assert len(children) == 8 and all(r.info.status == "FINISHED" for r in children)
    for run in children:
        for key in ("eval/loss", "eval/exact"):
            assert len(client.get_metric_history(run.info.run_id, key)) == 250


def test_training_goes_on_when_mlflow_is_down_and_sync_backfills(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    spec = RunSpec(**{**SPEC, "steps": 60, "eval_points": 6})
    down = Stores.resolve(tmp_path, tracking_uri=f"http://127.0.0.1:{free_port()}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = record_run(spec, down)
    assert result.status == "done" and any("MLflow mirror unavailable" in str(w.message) for w in caught)
    assert len(down.parquet.curves()) == len(result.rows)
    up = Stores.resolve(tmp_path, tracking_uri=f"sqlite:///{tmp_path / 'later.db'}")
    assert sync_mlflow(up) == {result.run_hash: len(result.rows)}
    assert sync_mlflow(up) == {result.run_hash: 0}  # idempotent
    client = up.mirror.client
    run = client.search_runs([client.get_experiment_by_name("faults").experiment_id],
                             f"tags.`search_scaling.run_hash` = '{result.run_hash}'")[0]  # fmt: skip
    assert run.info.status == "FINISHED"
    # the maze's decision metrics and progress measures reach MLflow too
    for key in ("eval/exact", "eval/decision_acc", "eval/corridor_loss", "probe/wall_probe_L0",
                "probe/lens_decision_L0", "probe/adj_attn_max"):  # fmt: skip
        split, metric = key.split("/")
        assert (
            len(client.get_metric_history(run.info.run_id, key))
            == len({r["step"] for r in result.rows if r["metric"] == metric and r["split"] == split})
            > 0
        )
    assert {"wall_probe_L0", "adj_attn_max"} <= set(down.parquet.curves().query("split == 'probe'")["metric"])
