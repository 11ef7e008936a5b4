"""The MLflow mirror: what people browse (`mlflow ui`). The Parquet store stays the truth.

One experiment per sweep, a parent run per sweep and a child run per cell, each found again by its
``search_scaling.run_hash`` tag (so every call here is idempotent). Metrics go in batches; a child's
``search_scaling.logged_step`` tag records how far its curve was logged, so a replayed flush after a
retry, or `sync_from_store`, logs only what is missing. Writes retry with backoff (SQLite lock
contention); if MLflow stays unreachable the error is raised to `SafeMirror`, which turns it into a
warning so that training goes on.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

HASH_TAG = "search_scaling.run_hash"
STEP_TAG = "search_scaling.logged_step"
SWEEP_TAG = "search_scaling.sweep_id"
BATCH = 1000  # MLflow's limit on metrics per log_batch


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
    """Nested spec -> MLflow params: ``task_options.generator = dfs``."""
    if isinstance(value, dict):
        out = {}
        for key, sub in value.items():
            out.update(flatten(f"{prefix}.{key}" if prefix else str(key), sub))
        return out
    return {prefix: json.dumps(value) if isinstance(value, (list, tuple)) else str(value)}


class Mirror:
    def __init__(self, tracking_uri: str, artifact_root: str | Path | None = None):
        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root).resolve() if artifact_root else None
        self.client = MlflowClient(tracking_uri=tracking_uri)

    # -- experiment and runs (idempotent) ------------------------------------------------------------
    def experiment(self, sweep_id: str) -> str:
        found = retrying(self.client.get_experiment_by_name, sweep_id)
        if found is not None:
            return found.experiment_id
        location = (self.artifact_root / sweep_id).as_uri() if self.artifact_root else None
        try:
            return retrying(self.client.create_experiment, sweep_id, artifact_location=location)
        except Exception:  # another process created it first
            return self.client.get_experiment_by_name(sweep_id).experiment_id

    def _find(self, experiment_id: str, run_hash: str):
        runs = retrying(self.client.search_runs, [experiment_id], f"tags.`{HASH_TAG}` = '{run_hash}'")
        return runs[0] if runs else None

    def parent_run(self, sweep_id: str, summary: dict | None = None) -> str:
        exp = self.experiment(sweep_id)
        run = self._find(exp, f"sweep:{sweep_id}")
        if run is None:
            tags = {HASH_TAG: f"sweep:{sweep_id}", SWEEP_TAG: sweep_id}
            run = retrying(self.client.create_run, exp, tags=tags, run_name=f"sweep {sweep_id}")
        if summary:  # tags, not params: a grown grid changes them, and params are write-once
            tags = [RunTag(f"sweep.{k}", v[:5000]) for k, v in flatten("", summary).items()][:100]
            retrying(self._log, run.info.run_id, tags=tags)
        return run.info.run_id

    def child_run(self, sweep_id: str, run_hash: str, name: str, spec: dict, tags: dict) -> str:
        exp = self.experiment(sweep_id)
        run = self._find(exp, run_hash)
        if run is not None:
            return run.info.run_id
        parent = self.parent_run(sweep_id)
        all_tags = {HASH_TAG: run_hash, SWEEP_TAG: sweep_id, STEP_TAG: "-1", "mlflow.parentRunId": parent,
                    **{f"search_scaling.{k}": str(v) for k, v in tags.items()}}  # fmt: skip
        run = retrying(self.client.create_run, exp, tags=all_tags, run_name=name)
        params = [Param(k, v[:6000]) for k, v in flatten("", spec).items()]
        for lo in range(0, len(params), 100):
            retrying(self._log, run.info.run_id, params=params[lo : lo + 100])
        return run.info.run_id

    # -- curves and the end of a run -------------------------------------------------------------------
    def log_curves(self, run_id: str, rows: list[dict], start_ms: int | None = None) -> int:
        """Log rows with steps past the run's logged_step tag; returns how many were logged."""
        run = retrying(self.client.get_run, run_id)
        done = int(run.data.tags.get(STEP_TAG, "-1"))
        fresh = [r for r in rows if r["step"] > done]
        if not fresh:
            return 0
        if run.info.status != "RUNNING":
            retrying(self.client.update_run, run_id, status="RUNNING")
        base = start_ms if start_ms is not None else run.info.start_time
        metrics = [Metric(f"{r['split']}/{r['metric']}", r["value"], base + int(1000 * r["wall_time"]),
                          r["step"]) for r in fresh]  # fmt: skip
        for lo in range(0, len(metrics), BATCH):
            retrying(self._log, run_id, metrics=metrics[lo : lo + BATCH])
        retrying(self._log, run_id, tags=[RunTag(STEP_TAG, str(max(r["step"] for r in fresh)))])
        return len(fresh)

    def finish(self, run_id: str, status: str, final: dict | None = None, artifacts: dict | None = None):
        if final:
            tags = [RunTag(f"final.{k}", f"{v:.6g}") for k, v in final.items()]
            retrying(self._log, run_id, tags=tags[:100])
        for name, text in (artifacts or {}).items():
            retrying(self.client.log_text, run_id, text, name)
        mlflow_status = {"done": "FINISHED", "diverged": "FAILED", "failed": "FAILED"}.get(status, "KILLED")
        retrying(self.client.set_tag, run_id, "search_scaling.status", status)
        retrying(self.client.set_terminated, run_id, mlflow_status)

    def _log(self, run_id: str, metrics=(), params=(), tags=()) -> None:
        self.client.log_batch(run_id, metrics=metrics, params=params, tags=tags, synchronous=True)
