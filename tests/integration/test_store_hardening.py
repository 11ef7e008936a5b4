"""The stores as a careless or hostile user meets them: MLflow at a closed port, passwords in URIs,
plain `postgresql://` URLs, `report` through the environment or a file:// URI, a corrupt curve
part, and the MLflow database deleted under a running mirror."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from search_scaling.cli import main
from search_scaling.store import Mirror, Stores, record_run
from search_scaling.store.recorder import ENV_LEDGER, ENV_STORE, ENV_TRACKING, SafeMirror
from search_scaling.training import RunSpec
from tests.postgres import free_port

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "search_scaling.cli"]
SECRET = "S3cr3t-pw"
TINY = dict(task="maze", size=3, model="L1-D8", steps=20, eval_points=3, eval_examples=16, sweep="tiny")


def _clean_env(**extra) -> dict:
    """The caller's environment without any store or MLflow settings (the test sets its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SEARCH_SCALING_"))}
    return {**env, **extra}


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny") / "store"
    result = record_run(RunSpec(**TINY), Stores.resolve(root, mlflow=False))
    assert result.status == "done"
    return root


def test_train_with_mlflow_at_a_closed_port_finishes_fast_with_one_redacted_warning(tmp_path):
    tracking = f"http://alice:{SECRET}@127.0.0.1:{free_port()}"
    args = [*CLI, "train", "--size", "3", "--model", "L1-D8", "--steps", "20", "--eval-points", "3",
            "--eval-examples", "16", "--store", str(tmp_path), "--tracking-uri", tracking]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, timeout=240, env=_clean_env())
    took = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-3000:]
    assert "status done" in done.stdout and took < 60, f"{took:.0f} s"
    assert done.stderr.count("MLflow mirror unavailable") == 1, done.stderr[-3000:]
    assert "alice:***@127.0.0.1" in done.stderr and SECRET not in done.stdout + done.stderr


def test_report_reads_the_store_named_by_the_environment_or_a_file_uri(tiny_store, tmp_path, capsys,
                                                                       monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)  # no ./runs here: only the environment names the store
    monkeypatch.setenv(ENV_STORE, str(tiny_store))
    assert main(["report", "tiny", "--bootstrap", "0", "--out", "by_env"]) == 0
    assert (tmp_path / "by_env" / "index.html").exists() and "(1 runs)" in capsys.readouterr().out
    monkeypatch.delenv(ENV_STORE)
    assert main(["report", "tiny", "--store", tiny_store.as_uri(), "--bootstrap", "0"]) == 0
    assert (tiny_store / "reports" / "tiny" / "index.html").exists()  # not under ./file:


def test_status_names_a_corrupt_curve_part(tiny_store, tmp_path, capsys):
    store = tmp_path / "store"
    shutil.copytree(tiny_store, store)
    assert main(["status", "tiny", "--store", str(store)]) == 0
    part = sorted((store / "curves").rglob("part-*.parquet"))[-1]
    part.write_bytes(part.read_bytes()[:-20])  # a truncated write
    capsys.readouterr()
    assert main(["status", "tiny", "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert f"corrupt curve part {part}" in err and "1 curve part(s) do not read back" in err


def test_plain_postgresql_urls_work_for_the_ledger_and_mlflow(pg_database, tmp_path):
    plain = pg_database.replace("postgresql+psycopg2://", "postgresql://")
    stores = Stores.resolve(tmp_path, ledger_url=plain, tracking_uri=plain)
    assert stores.ledger.ensure("pg", ["a", "b"]) == 2 and stores.ledger.claim("a", "w") == 1
    assert stores.mirror.experiment("pg") == stores.mirror.experiment("pg")


def test_ui_shows_no_password_in_its_output_or_command_line(tmp_path):
    tracking = f"postgresql://alice:{SECRET}@127.0.0.1:{free_port()}/mlflow"  # nothing listens there
    proc = subprocess.Popen([*CLI, "ui", "--store", str(tmp_path), "--port", str(free_port())],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_clean_env(**{ENV_TRACKING: tracking}), start_new_session=True)  # fmt: skip
    try:
        first = proc.stdout.readline()
        deadline, server = time.time() + 60, ""
        while "mlflow" not in server and time.time() < deadline:  # the server it starts
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            server = " ".join(Path(f"/proc/{c}/cmdline").read_text().replace("\0", " ") for c in children)
            time.sleep(0.1)
        own = Path(f"/proc/{proc.pid}/cmdline").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: this command and the MLflow server
        proc.wait(timeout=30)
    assert "MLflow UI for postgresql+psycopg2://alice:***@127.0.0.1" in first
    assert "-m mlflow server" in server and SECRET not in server and SECRET not in own


def test_deleting_the_mlflow_database_under_a_live_mirror_warns(tmp_path):
    db = tmp_path / "mlflow.db"
    mirror = SafeMirror(Mirror(f"sqlite:///{db}"))
    run = mirror("child_run", "gone", "hash", "cell", {"lr": 1}, {})
    rows = [{"step": s, "split": "eval", "metric": "loss", "value": 1.0, "wall_time": 0.1} for s in range(3)]
    assert run and mirror("log_curves", run, rows) == 3
    db.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert mirror("log_curves", run, [{**rows[0], "step": 5}]) is None
    (warning,) = [str(w.message) for w in caught if "MLflow mirror unavailable" in str(w.message)]
    assert f"{db} was deleted" in warning and "mlflow-sync" in warning


def test_sweep_job_environment_is_what_sweep_reads(tmp_path, monkeypatch):
    """`submit` ships ENV_STORE / ENV_LEDGER / ENV_TRACKING; `sweep` resolves exactly those."""
    monkeypatch.setenv(ENV_STORE, str(tmp_path))
    monkeypatch.setenv(ENV_LEDGER, "postgresql://u@db/ledger")
    monkeypatch.setenv(ENV_TRACKING, "http://mlflow:5000")
    stores = Stores.resolve()
    assert (stores.root, stores.ledger_url, stores.tracking_uri) == (
        str(tmp_path), "postgresql+psycopg2://u@db/ledger", "http://mlflow:5000")  # fmt: skip
