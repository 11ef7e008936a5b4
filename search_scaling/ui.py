"""`search-scaling ui`: the MLflow UI on a store's tracking database, as a light server for one
person: one web worker and no job runner (MLflow's defaults, 4 workers plus a job runner and its
consumers, are 15 processes and 2.5-3.6 GiB here; this is 2 processes and about 0.5 GiB). It says
where it listens once it answers, with a link per sweep, and keeps the server's own messages in a
log file."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from search_scaling.store.locations import redact

START_TIMEOUT_S = 180.0
LIGHT = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runner (GenAI evaluation jobs)


def ui_command(tracking_uri: str | None, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The MLflow UI's command line and environment: the backend URI, which may carry a password,
    goes in the environment (MLflow reads MLFLOW_BACKEND_STORE_URI), never on the command line
    that `ps` shows to every user of the machine."""
    if tracking_uri is None:
        raise ValueError("no MLflow tracking URI: give --tracking-uri or a --store with an mlflow.db")
    if tracking_uri.startswith(("http://", "https://")):
        raise ValueError(f"{redact(tracking_uri)} is an MLflow server already: open it in a browser")
    # The venv's own mlflow, whether or not the venv is activated (its bin/ may not be on PATH).
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port), "--workers", "1"]
    return cmd, {**os.environ, **LIGHT, "MLFLOW_BACKEND_STORE_URI": tracking_uri}


def _missing_database(tracking_uri: str) -> str | None:
    """A store's SQLite file that does not exist (the UI would create an empty one)."""
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///").split("?")[0])
        if not path.exists():
            return str(path)
    return None


def cmd_ui(args: argparse.Namespace) -> int:
    """Start the light MLflow server, wait until it answers, print where, then serve until Ctrl-C."""
    from search_scaling.store import Stores

    stores = Stores.resolve(args.store, tracking_uri=args.tracking_uri, create=False)
    cmd, env = ui_command(stores.tracking_uri, args.host, args.port)
    missing = _missing_database(stores.tracking_uri)
    if missing:
        raise ValueError(f"no MLflow database at {missing}: the sweeps in this store ran with --no-mlflow; "
                         f"`search-scaling mlflow-sync --store {redact(stores.root)}` fills one")  # fmt: skip
    _check_port(args.host, args.port)
    log = Path(tempfile.gettempdir()) / f"search-scaling-ui-{args.port}.log"
    base = f"http://{args.host}:{args.port}"
    print(f"starting the MLflow UI for {redact(stores.tracking_uri)} (server messages: {log})...", flush=True)
    # Only its owner reads the server's log: MLflow's own errors may quote the backend URI.
    with open(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        os.chmod(log, 0o600)  # a log left by an earlier run keeps its mode otherwise
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    # A terminal's Ctrl-C reaches the server too (same process group); `kill` of this process
    # (SIGTERM) stops the server here.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if not _wait_until_up(proc, base):
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            proc.terminate()
            raise ValueError(f"the MLflow UI did not start on {base}: {tail[0]} (log: {log})")
        print(f"MLflow UI listening on {base}  (Ctrl-C stops it)", flush=True)
        for line in sweep_links(base):
            print(line, flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _check_port(host: str, port: int) -> None:
    """A port another server holds is one clear error, not a UI that seems up but is someone else's."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is fine
        try:
            probe.bind((host, port))
        except OSError as err:
            why = f"cannot listen on {host}:{port} ({err.strerror})"
            raise ValueError(
                f"--port {port}: {why}; another MLflow UI may be running there: open it, or "
                "pick a free port with --port"
            ) from None


def _wait_until_up(proc: subprocess.Popen, base: str) -> bool:
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def sweep_links(base: str) -> list[str]:
    """One line per sweep experiment: its name and the page listing its cells."""
    from search_scaling.store.mlflow_view import SHARED_VIEW, SORTED_VIEW, VIEW_TAG

    body = json.dumps({"max_results": 100, "order_by": ["last_update_time DESC"]}).encode()
    request = urllib.request.Request(f"{base}/ajax-api/2.0/mlflow/experiments/search", data=body,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            experiments = json.load(response).get("experiments", [])
    except (OSError, ValueError):
        return []
    sweeps = [e for e in experiments if e.get("name") != "Default"]
    width = max((len(e["name"]) for e in sweeps), default=0)

    def page(e: dict) -> str:  # the sweep's shared view where its driver wrote one
        has_view = any(t.get("key") == VIEW_TAG for t in e.get("tags", []))
        return f"{base}/#/experiments/{e['experiment_id']}/{SHARED_VIEW if has_view else SORTED_VIEW}"

    return [f"  {e['name']:{width}s}  {page(e)}" for e in sweeps]
