"""The MLflow mirror: what people browse (`mlflow ui`). The Parquet store stays the truth.

One experiment per sweep, a parent run per sweep and a child run per cell, each found again by its
``search_scaling.run_hash`` tag (so every call here is idempotent). Metrics go in batches; a child's
``search_scaling.logged_step`` tag records how far its curve was logged, so a replayed flush after a
retry, or `sync_from_store`, logs only what is missing.

The mirror is a convenience, so it gets a time budget of seconds: MLflow's own HTTP defaults (7
retries with backoff up to 120 s, 120 s time-outs) can hold one call for four minutes. Against a
server, MLflow's retries are the only ones (bounded by `HTTP_BUDGET`); against a database, writes
retry here (SQLite lock contention) after a bounded first connection. The first call that fails
anyway turns the mirror off for the rest of the process (`MirrorUnavailable`, password redacted),
which `SafeMirror` turns into one warning so that training goes on; `search-scaling mlflow-sync`
backfills later. A SQLite file deleted or replaced under a live mirror is such a failure too:
MLflow would go on writing into the deleted file.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from functools import cached_property
from pathlib import Path

from search_scaling.store.locations import redact
from search_scaling.store.mlflow_seed import seed_database
from search_scaling.store.mlflow_view import COLOUR_TAG, run_colour

# mlflow is imported where it is used: importing it costs seconds, and every process that touches
# the stores (CLI commands, Ray workers, Tune trials) imports this module whether it mirrors or not.

HASH_TAG = "search_scaling.run_hash"
KIND_TAG = "search_scaling.kind"  # sweep (the parent run) | cell
STEP_TAG = "search_scaling.logged_step"
SWEEP_TAG = "search_scaling.sweep_id"
BATCH = 1000  # MLflow's limit on metrics per log_batch
# A model-training experiment, not a GenAI one (MLflow 3's UI otherwise opens on a traces overview);
# the note is what the UI shows as the experiment's description.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
NOTE_TAG = "mlflow.note.content"
STATUSES = {"done": "FINISHED", "diverged": "FAILED", "failed": "FAILED"}  # anything else: KILLED
# Read by MLflow at every request; values already in the environment win. Worst case per call:
# 3 attempts x 10 s time-out + 1-2 s backoff against an unroutable host; a closed port: about 2 s.
HTTP_BUDGET = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
               "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}  # fmt: skip
DB_CONNECT_TIMEOUT_S = 10  # a database-backed MLflow: MLflow itself retries a refused engine ~100 s


class MirrorUnavailable(RuntimeError):
    """MLflow failed within the mirror's budget; the mirror is off for the rest of this process.
    The message carries no password (and no chained cause that would)."""


def default_tracking_uri(store_root: str | Path) -> str:
    """``sqlite:////abs/path/mlflow.db`` beside the Parquet store (absolute: trials change dirs)."""
    return f"sqlite:///{Path(store_root).resolve() / 'mlflow.db'}"


def retrying(fn, *args, attempts: int = 6, **kwargs):
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(min(8.0, 0.2 * 2**attempt) * (0.5 + random.random()))


def flatten(prefix: str, value) -> dict[str, str]:
    """Nested spec -> MLflow params: ``task_options.generator = dfs``. Unset values (None, empty
    mappings and lists) are left out rather than logged as the text "None"."""
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            out.update(flatten(f"{prefix}.{key}" if prefix else str(key), sub))
        return out
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return {}
    return {prefix: json.dumps(value) if isinstance(value, (list, tuple)) else str(value)}


def source_tags(source_name: str) -> dict[str, str]:
    """What MLflow's UI shows as a run's Source and its git commit."""
    import getpass

    from search_scaling.version import code_version, git_commit

    tags = {"mlflow.source.type": "LOCAL", "mlflow.source.name": source_name,
            "search_scaling.code_version": code_version()}  # fmt: skip
    if git_commit():
        tags["mlflow.source.git.commit"] = git_commit()
    with contextlib.suppress(KeyError, OSError):  # no user name for this uid (some containers)
        tags["mlflow.user"] = getpass.getuser()
    return tags


class Mirror:
    def __init__(self, tracking_uri: str, artifact_root: str | Path | None = None):
        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root).resolve() if artifact_root else None
        self.remote = tracking_uri.startswith(("http://", "https://"))
        self.down: str | None = None  # why the mirror is off; every later call fails at once
        self.announced = False  # whether a `SafeMirror` has warned about it (once per process)
        self._db_file = _sqlite_file(tracking_uri)
        self._db_identity: tuple | None = None
        if self.remote:
            for name, value in HTTP_BUDGET.items():
                os.environ.setdefault(name, value)
        if self._db_file is not None:  # the schema migrations run here, where `Stores` serialises them
            try:
                seed_database(self._db_file, self.artifact_root)  # a new file: no migrations to run
                self.client  # noqa: B018
                self._db_identity = _identity(self._db_file)
            except Exception as err:  # noqa: BLE001 -- raised by the first call, inside SafeMirror
                self.down = _why(err)

    @cached_property
    def client(self):
        """Created on first use (inside `_call`'s budget), except for SQLite (in ``__init__``)."""
        if not self.remote and self._db_file is None:
            _probe_database(self.tracking_uri)
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri)

    # -- experiment and runs (idempotent) ------------------------------------------------------------
    def experiment(self, sweep_id: str, description: str | None = None) -> str:
        """The sweep's experiment (created as a model-training one); ``description`` becomes the
        note the UI shows under its name."""
        found = self._call("get_experiment_by_name", sweep_id)
        if found is None:
            location = (self.artifact_root / sweep_id).as_uri() if self.artifact_root else None
            return self._call(self._create_experiment, sweep_id, location, description)
        wanted = {**dict([EXPERIMENT_KIND]), **({NOTE_TAG: description} if description else {})}
        for key, value in wanted.items():
            if found.tags.get(key) != value:
                self._call("set_experiment_tag", found.experiment_id, key, value)
        return found.experiment_id

    def _create_experiment(self, sweep_id: str, location: str | None, description: str | None) -> str:
        tags = dict([EXPERIMENT_KIND]) | ({NOTE_TAG: description} if description else {})
        try:
            return self.client.create_experiment(sweep_id, artifact_location=location, tags=tags)
        except _mlflow_error() as err:  # another process created it first
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(sweep_id).experiment_id

    def _find(self, experiment_id: str, run_hash: str):
        runs = self._call("search_runs", [experiment_id], f"tags.`{HASH_TAG}` = '{run_hash}'")
        return runs[0] if runs else None

    def parent_run(self, sweep_id: str, summary: dict | None = None, running: bool = False) -> str:
        """The sweep's parent run, created if missing. Only a sweep's driver keeps it ``running``
        (`start_sweep`); one created for a lone `train`, a backfill or a report ends at once, so that
        no parent stays RUNNING with nothing running."""
        exp = self.experiment(sweep_id)
        run = self._find(exp, f"sweep:{sweep_id}")
        if run is None:
            tags = {HASH_TAG: f"sweep:{sweep_id}", SWEEP_TAG: sweep_id, KIND_TAG: "sweep",
                    **source_tags("search-scaling")}  # fmt: skip
            run = self._call("create_run", exp, tags=tags, run_name=f"sweep {sweep_id}")
            if not running:
                self._call("set_terminated", run.info.run_id, "FINISHED")
        if summary:  # tags, not params: a grown grid changes them, and params are write-once
            from mlflow.entities import RunTag

            tags = [RunTag(f"sweep.{k}", redact(v)[:5000]) for k, v in flatten("", summary).items()][:100]
            self._call(self._log, run.info.run_id, tags=tags)
        return run.info.run_id

    def child_run(self, sweep_id: str, run_hash: str, name: str, spec: dict, tags: dict,
                  metrics: dict | None = None) -> str:  # fmt: skip
        """A cell's run under the sweep's parent: ``spec`` flattened into params, ``tags`` under
        ``search_scaling.``, ``metrics`` (numbers people sort by) logged once at step 0."""
        exp = self.experiment(sweep_id)
        run = self._find(exp, run_hash)
        if run is not None:
            return run.info.run_id
        parent = self.parent_run(sweep_id)
        all_tags = {HASH_TAG: run_hash, SWEEP_TAG: sweep_id, STEP_TAG: "-1", KIND_TAG: "cell",
                    "mlflow.parentRunId": parent, **source_tags("search-scaling"),
                    **{f"search_scaling.{k}": redact(v) for k, v in tags.items()}}  # fmt: skip
        colour = run_colour((metrics or {}).get("scale/params_nonembed"))
        if colour:  # the UI's colour of the run: one per model size (`mlflow_view`)
            all_tags[COLOUR_TAG] = colour
        run = self._call("create_run", exp, tags=all_tags, run_name=name)
        from mlflow.entities import Metric, Param

        params = [Param(k, redact(v)[:6000]) for k, v in flatten("", spec).items()]
        now = int(time.time() * 1000)
        numbers = [Metric(k, v, now, 0) for k, v in (metrics or {}).items()]
        for lo in range(0, max(len(params), len(numbers)), 100):
            self._call(
                self._log, run.info.run_id, params=params[lo : lo + 100], metrics=numbers[lo : lo + 100]
            )
        return run.info.run_id

    # -- the sweep's parent run, kept by the driver (`search_scaling.store.sweep_run`) ---------------
    def start_sweep(self, sweep_id: str, description: str, params: dict[str, str], tags: dict[str, str],
                    artifacts: dict[str, str]) -> tuple[str, str, int]:  # fmt: skip
        """Create (or reopen) the sweep's parent run as RUNNING with its params, tags and text
        artifacts; returns (experiment id, run id, the run's start time in ms). Params are
        write-once in MLflow: a value that changed since the first run of this sweep (a grown grid)
        goes to a ``grid.<name>`` tag."""
        exp = self.experiment(sweep_id, description)
        run_id = self.parent_run(sweep_id, running=True)
        run = self._call("get_run", run_id)
        if run.info.status != "RUNNING":
            self._call("update_run", run_id, status="RUNNING")
        from mlflow.entities import Param, RunTag

        old = run.data.params
        fresh = [Param(k, v) for k, v in params.items() if k not in old]
        changed = [RunTag(f"grid.{k}", v) for k, v in params.items() if k in old and old[k] != v]
        tags_ = [RunTag(k, redact(v)[:5000]) for k, v in tags.items()] + changed
        for lo in range(0, max(len(fresh), len(tags_)), 100):
            self._call(self._log, run_id, params=fresh[lo : lo + 100], tags=tags_[lo : lo + 100])
        for name, text in artifacts.items():
            self._call("log_text", run_id, text, name)
        return exp, run_id, run.info.start_time

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._call("set_experiment_tag", experiment_id, key, value)

    def log_numbers(self, run_id: str, values: dict[str, float], step: int) -> None:
        """Metrics at one step (the sweep's aggregate numbers as it goes)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items()]
        for lo in range(0, len(metrics), BATCH):
            self._call(self._log, run_id, metrics=metrics[lo : lo + BATCH])

    def end_sweep(self, run_id: str, status: str) -> None:
        """FINISHED, FAILED or KILLED: a parent run is RUNNING only while its sweep runs."""
        self._call("set_terminated", run_id, status)

    # -- curves and the end of a run -------------------------------------------------------------------
    def log_curves(self, run_id: str, rows: list[dict], start_ms: int | None = None) -> int:
        """Log rows with steps past the run's logged_step tag; returns how many were logged."""
        run = self._call("get_run", run_id)
        done = int(run.data.tags.get(STEP_TAG, "-1"))
        fresh = [r for r in rows if r["step"] > done]
        if not fresh:
            return 0
        if run.info.status != "RUNNING":
            self._call("update_run", run_id, status="RUNNING")
        base = start_ms if start_ms is not None else run.info.start_time
        from mlflow.entities import Metric, RunTag

        metrics = [Metric(f"{r['split']}/{r['metric']}", r["value"], base + int(1000 * r["wall_time"]),
                          r["step"]) for r in fresh]  # fmt: skip
        for lo in range(0, len(metrics), BATCH):
            self._call(self._log, run_id, metrics=metrics[lo : lo + BATCH])
        self._call(self._log, run_id, tags=[RunTag(STEP_TAG, str(max(r["step"] for r in fresh)))])
        return len(fresh)

    def finish(self, run_id: str, status: str, artifacts: dict | None = None, tags: dict | None = None):
        """End a cell's run; its final numbers are the last points of its eval/* curves. ``tags``:
        more tags to set first (why and where it stopped, how it trained: `recorder.finish_tags`)."""
        for name, text in (artifacts or {}).items():
            self._call("log_text", run_id, text, name)
        for key, value in (tags or {}).items():
            self._call("set_tag", run_id, key, value)
        self._call("set_tag", run_id, "search_scaling.status", status)
        self._call("set_terminated", run_id, STATUSES.get(status, "KILLED"))

    def log_report(self, sweep_id: str, directory: str | Path) -> str:
        """A sweep's report (index.html, PNGs, fits.json) as artifacts of its parent run, under
        ``report/``, so that a person browsing MLflow finds it; returns the parent run's id."""
        run_id = self.parent_run(sweep_id)
        self._call("log_artifacts", run_id, str(directory), "report")
        return run_id

    def _log(self, run_id: str, metrics=(), params=(), tags=()) -> None:
        self.client.log_batch(run_id, metrics=metrics, params=params, tags=tags, synchronous=True)

    # -- the budget ----------------------------------------------------------------------------------
    def _call(self, fn, *args, **kwargs):
        """``fn`` (a callable, or the name of a client method) within the budget. A server gets
        MLflow's bounded HTTP retries only; a database gets a few retries here (lock contention)."""
        if self.down is not None:
            raise MirrorUnavailable(self.down)
        if self._db_identity is not None and _identity(self._db_file) != self._db_identity:
            self.down = f"the MLflow database {self._db_file} was deleted or replaced"
            raise MirrorUnavailable(self.down)
        try:
            call = getattr(self.client, fn) if isinstance(fn, str) else fn
            return retrying(call, *args, attempts=1 if self.remote else 6, **kwargs)
        except Exception as err:  # noqa: BLE001 -- whatever MLflow raised, the mirror is off
            self.down = _why(err)
            raise MirrorUnavailable(self.down) from None


def _mlflow_error() -> type:
    from mlflow.exceptions import MlflowException

    return MlflowException


def _why(err: Exception) -> str:
    """One line, no password: the exception's type and the first line of its message."""
    first = next((line for line in str(err).splitlines() if line.strip()), "")
    return redact(f"{type(err).__name__}: {first}")


def _sqlite_file(uri: str) -> str | None:
    """The database file of a ``sqlite:///path`` URI (None for servers, other databases, memory)."""
    path = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else None
    return path.split("?")[0] if path and not path.startswith(":memory:") else None


def _identity(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _probe_database(uri: str) -> None:
    """One connection with a time-out before MLflow's own engine (which retries a refused
    connection for about 100 s): a database that is down costs seconds."""
    import sqlalchemy

    timeout = {"connect_timeout": DB_CONNECT_TIMEOUT_S} if uri.startswith(("postgresql", "mysql")) else {}
    engine = sqlalchemy.create_engine(uri, connect_args=timeout)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()
