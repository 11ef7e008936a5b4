"""A two-node local Ray cluster (`ray start`) receiving a sweep through `ray job submit`, with the
cluster's store settings (PostgreSQL ledger and MLflow) coming from the job's environment."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from search_scaling.cli import SUBMIT_EXCLUDES
from search_scaling.store import Ledger, Mirror
from search_scaling.store.mirror import HASH_TAG
from search_scaling.store.recorder import ENV_LEDGER, ENV_STORE, ENV_TRACKING
from search_scaling.sweep.spec import parse_sweep
from tests.integration.sweeps import curves_complete, spec
from tests.postgres import free_port
from tests.ray_processes import kill_cluster
from tests.servers import start

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]


def _path() -> str:
    return f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"


class TwoNodeCluster:
    """`ray start --head` plus a second `ray start --address` node on 127.0.0.1, each started with
    ``env`` as KubeRay starts pods with the stores Secret: the job driver and workers inherit it."""

    def __init__(self, env: dict):
        if shutil.which("ray", path=_path()) is None:
            pytest.fail("the ray CLI is missing from the virtualenv")
        self.port, dash = free_port(), free_port()
        self.address = f"http://127.0.0.1:{dash}"
        # Ray 2.59+ starts clusters with token auth; clients send the token only with RAY_AUTH_MODE=token.
        # `ray start` never makes a token (only `ray.init()` does, in ~/.ray/auth_token): on a fresh
        # machine the head failed unless another test's `ray.init()` had happened to run first. The
        # cluster gets its own, as KubeRay gives every pod the Secret's token.
        token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self.env = {**os.environ, "PATH": _path(), "RAY_ADDRESS": "", **token, **env}
        self.head = ["ray", "start", "--head", f"--port={self.port}", "--num-cpus=1",
                     "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
                     "--disable-usage-stats"]  # fmt: skip
        self.worker = [
            "ray",
            "start",
            f"--address=127.0.0.1:{self.port}",
            "--num-cpus=2",
            "--disable-usage-stats",
        ]

    def __enter__(self):
        try:
            start(self.head, "the Ray head node", logs=_ray_logs, env=self.env, timeout=120)
            start(self.worker, "the second Ray node", logs=_ray_logs, env=self.env, timeout=120)
        except BaseException:
            kill_cluster(self.port)  # a head that started must not outlive a failed second node
            raise
        return self

    def __exit__(self, *exc):
        kill_cluster(self.port)  # this cluster only: `ray stop` would end every Ray on the machine


def _ray_logs() -> list[Path]:
    """The newest Ray session's GCS and raylet logs: where a node that would not start says why."""
    sessions = sorted(Path("/tmp/ray").glob("session_2*"), key=lambda p: p.stat().st_mtime)
    logs = sessions[-1] / "logs" if sessions else Path("/tmp/ray/session_latest/logs")
    return [logs / name for name in ("gcs_server.err", "gcs_server.out", "raylet.err", "raylet.out")]


def _submit(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
    """`ray job submit`, again while the head's job agent is still starting (a loaded machine)."""
    for _ in range(36):  # up to 3 minutes: the agent starts slowly on a busy machine
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
        if "No available agent to submit job" not in done.stderr:
            return done
        time.sleep(5)
    return done


def test_two_node_cluster_runs_a_submitted_sweep(tmp_path, postgres):
    """The cluster path with the manifests' settings: store, PostgreSQL ledger and PostgreSQL-backed
    MLflow come from SEARCH_SCALING_STORE / SEARCH_SCALING_LEDGER_URL / MLFLOW_TRACKING_URI."""
    store = tmp_path / "store"
    env = {ENV_STORE: str(store), ENV_LEDGER: postgres.create_database("cluster_ledger"),
           ENV_TRACKING: postgres.create_database("cluster_mlflow")}  # fmt: skip
    body = spec("cluster", range(3), steps=40, concurrent=3)
    path = REPO / "sweeps" / ".test-cluster.yaml"  # inside the uploaded working directory
    path.write_text(yaml.safe_dump(body))
    try:
        with TwoNodeCluster(env) as cluster:
            excludes = json.dumps({"excludes": SUBMIT_EXCLUDES})
            cmd = ["ray", "job", "submit", f"--address={cluster.address}", "--working-dir", str(REPO),
                   "--runtime-env-json", excludes, "--",
                   "search-scaling", "sweep", "sweeps/.test-cluster.yaml", "--no-report"]  # fmt: skip
            done = _submit(cmd, cluster.env)
    finally:
        path.unlink()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "succeeded" in done.stdout.lower()
    runs = pd.read_parquet(store / "runs")
    assert len(runs) == 3 and set(runs["status"]) == {"done"}
    curves_complete(store, body)
    hashes = parse_sweep(body).run_hashes
    assert Ledger(env[ENV_LEDGER]).counts(hashes)["done"] == 3
    mirror = Mirror(env[ENV_TRACKING])
    exp = mirror.client.get_experiment_by_name("cluster").experiment_id
    children = [r for r in mirror.client.search_runs([exp]) if r.data.tags.get(HASH_TAG) in hashes]
    assert len(children) == 3 and all(r.info.status == "FINISHED" for r in children)
