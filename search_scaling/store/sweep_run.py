"""The sweep's parent run in MLflow, as the driver keeps it: what a person browsing the experiment
sees of the sweep as a whole.

- the experiment is a model-training one, described by the sweep's ``description``;
- the parent run carries the spec (``spec.yaml``), params describing the grid (its axes and the
  fields every cell shares), the git commit, and live aggregate metrics: ``sweep/done``,
  ``sweep/failed``, ... and the best primary metric per task and problem size
  (``sweep/best exact maze-3``), logged whenever they change with the elapsed seconds as the step
  (one "sweep" section of charts, after the cells' "eval" curves: MLflow sorts sections by name);
- its status is RUNNING only while the sweep runs: FINISHED, FAILED (a cell failed or the driver
  stopped on an error) or KILLED (Ctrl-C) when it ends.

Like every mirror call, this never stops a sweep: the first failure prints one warning and
mirroring stops for the driver (the cells mirror themselves; `search-scaling mlflow-sync` backfills).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from search_scaling.store.locations import redact
from search_scaling.store.mirror import source_tags
from search_scaling.store.mlflow_view import SHARED_VIEW, view_tag

COUNTED = ("done", "running", "pending", "failed", "diverged")
# MLflow's UI nests child runs under a collapsed parent when runs are sorted by date; sorted by name
# they are listed flat, each cell with its task, size, model and seed. The sweep's shared view
# (`mlflow_view`, written when the sweep starts) does that and shows accuracy and loss first.
RUNS_VIEW = SHARED_VIEW


def grid_params(sweep) -> dict[str, str]:
    """Params that describe the grid: every RunSpec field, as one value when all cells share it and
    as the sorted list of its values when it is an axis; the problem size named for what it is."""
    names = {c.task_obj.size_name for c in sweep.cells}
    size_name = names.pop() if len(names) == 1 else "size"
    values: dict[str, set] = {}
    for cell in sweep.cells:
        fields = json.loads(cell.to_json())
        fields.pop("sweep", None)
        fields[size_name] = fields.pop("size")
        for key, value in fields.items():
            if value is not None and value != {} and value != []:
                values.setdefault(key, set()).add(json.dumps(value, sort_keys=True))
    params = {"cells": str(len(sweep.cells)), "max_concurrent": str(sweep.max_concurrent),
              "resources.cpus": f"{sweep.resources.cpus:g}", "resources.gpus": f"{sweep.resources.gpus:g}",
              "pack": str(sweep.pack)}  # fmt: skip
    for key, seen in values.items():
        decoded = sorted((json.loads(v) for v in seen), key=_order)
        text = ", ".join(v if isinstance(v, str) else json.dumps(v) for v in decoded)
        params[key if len(seen) == 1 else f"axis.{key}"] = redact(text)[:6000]
    return params


def _order(value):
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, json.dumps(value, sort_keys=True))


def best_key(task: str, size: int, metric: str) -> str:
    return f"sweep/best {metric} {task}-{size}"


class SweepRun:
    """The driver's handle on the parent run; every method is a no-op once MLflow failed."""

    def __init__(self, sweep, stores, warn=print):
        self.sweep, self.stores, self.warn = sweep, stores, warn
        self.mirror = None  # opened by `start`, where the driver serialises MLflow's first use
        self.experiment_id: str | None = None
        self.run_id: str | None = None
        self.started = time.time()
        self._last: dict | None = None

    def start(self) -> None:
        if self.stores.tracking_uri is None:
            return
        try:  # creating the client is what first touches the database (`Stores.mirror` locks it)
            self.mirror = self.stores.mirror
        except Exception as err:  # noqa: BLE001 -- e.g. a database that does not answer
            self._failed(err)
            return
        spec_path = Path(self.sweep.path)
        artifacts = {"spec.yaml": spec_path.read_text(encoding="utf-8")} if spec_path.is_file() else {}
        tags = {**source_tags(f"search-scaling sweep {self.sweep.path}"),
                "search_scaling.spec_file": spec_path.name}  # fmt: skip
        from search_scaling.store.recorder import first_use_lock

        with first_use_lock(self.stores.tracking_uri):  # two drivers at once: one parent run
            got = self._call("start_sweep", self.sweep.name, self.sweep.description or None,
                             grid_params(self.sweep), tags, artifacts)  # fmt: skip
        if got is not None:  # steps count seconds from the parent's first start: a rerun goes on
            self.experiment_id, self.run_id, start_ms = got
            self.started = start_ms / 1000
            primary = [c.task_obj.primary_metric for c in self.sweep.cells]
            self._call("set_experiment_tag", self.experiment_id, *view_tag(primary, len(self.sweep.cells)))

    def update(self, counts: Counter, best: dict) -> None:
        """Log the aggregate numbers if they changed. ``best``: (task, size, metric) -> value."""
        values = {f"sweep/{k}": counts.get(k, 0) for k in COUNTED}
        values["sweep/total"] = len(self.sweep.cells)
        values |= {best_key(*key): value for key, value in best.items()}
        if values != self._last and self.run_id:
            self._last = values
            self._call("log_numbers", self.run_id, values, int(time.time() - self.started))

    def end(self, status: str) -> None:
        if self.run_id:
            self._call("end_sweep", self.run_id, status)

    def view_url(self, base: str) -> str | None:
        """The experiment's runs, listed flat by name, on the MLflow UI at ``base``."""
        if self.experiment_id is None:
            return None
        return f"{base.rstrip('/')}/#/experiments/{self.experiment_id}/{RUNS_VIEW}"

    def _call(self, method: str, *args):
        if self.mirror is None:
            return None
        try:
            return getattr(self.mirror, method)(*args)
        except Exception as err:  # noqa: BLE001 -- MLflow must never stop a sweep
            self._failed(err)
            return None

    def _failed(self, err: Exception) -> None:
        self.mirror = None
        self.warn(f"warning: MLflow unavailable ({redact(str(err))}); the sweep goes on, run "
                  "`search-scaling mlflow-sync` later")  # fmt: skip
