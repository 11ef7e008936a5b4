"""Where a run's results go: `Stores` (Parquet + ledger + MLflow, configured once) and `record_run`,
which wraps `train_one` with claiming, run rows, curve flushes and the final status."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import socket
import subprocess
import traceback
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from search_scaling.store.ledger import Ledger
from search_scaling.store.mirror import Mirror, default_tracking_uri
from search_scaling.store.parquet import ParquetStore

ENV_STORE = "SEARCH_SCALING_STORE"
ENV_LEDGER = "SEARCH_SCALING_LEDGER_URL"
ENV_TRACKING = "MLFLOW_TRACKING_URI"
DEFAULT_SWEEP = "adhoc"
SCALE_COLUMNS = ("params_embed", "params_nonembed", "params_total", "flops_per_token")


@dataclass(frozen=True)
class Stores:
    """Store locations. Defaults (one machine): Parquet under ``root``, ledger and MLflow in SQLite
    files beside it. On a cluster: an object-store root, a PostgreSQL ledger URL and an MLflow
    server URI, from arguments or the environment variables named above."""

    root: str
    ledger_url: str
    tracking_uri: str | None  # None: MLflow mirroring off

    @classmethod
    def resolve(cls, root: str | None = None, ledger_url: str | None = None, tracking_uri: str | None = None,
                mlflow: bool = True) -> Stores:  # fmt: skip
        root = str(root or os.environ.get(ENV_STORE) or "runs")
        local = "://" not in root
        if local:
            root = str(Path(root).resolve())
            Path(root).mkdir(parents=True, exist_ok=True)
        default_ledger = f"sqlite:///{root}/ledger.db" if local else None
        ledger_url = ledger_url or os.environ.get(ENV_LEDGER) or default_ledger
        if ledger_url is None:
            raise ValueError(f"store root {root!r} is not a local directory: set a ledger URL "
                             f"(--ledger-url or {ENV_LEDGER}, e.g. postgresql://...)")  # fmt: skip
        default_tracking = default_tracking_uri(root) if local else None
        tracking = tracking_uri or os.environ.get(ENV_TRACKING) or default_tracking
        return cls(root, ledger_url, tracking if mlflow else None)

    @property
    def local(self) -> bool:
        return "://" not in self.root

    @cached_property
    def parquet(self) -> ParquetStore:
        return ParquetStore(self.root)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.ledger_url)

    @cached_property
    def mirror(self) -> Mirror | None:
        if self.tracking_uri is None:
            return None
        artifacts = Path(self.root) / "mlartifacts" if self.local else None
        return Mirror(self.tracking_uri, artifacts)

    @property
    def workdir(self) -> Path:
        """Checkpoints: under the store root when it is local."""
        return Path(self.root) / "checkpoints" if self.local else Path("runs/checkpoints").resolve()


class SafeMirror:
    """Mirror calls that never stop training: the first failure is warned about and mirroring of
    this run stops; `search-scaling mlflow-sync` backfills from Parquet later."""

    def __init__(self, mirror: Mirror | None):
        self.mirror, self.broken = mirror, mirror is None

    def __call__(self, method: str, *args, **kwargs):
        if self.broken:
            return None
        try:
            return getattr(self.mirror, method)(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 -- any MLflow failure must not stop training
            self.broken = True
            warnings.warn(f"MLflow mirror unavailable ({type(err).__name__}: {err}); the Parquet store "
                          "stays complete, run `search-scaling mlflow-sync` later", stacklevel=2)  # fmt: skip
            return None


@functools.cache
def code_version() -> str:
    """Package version plus the git commit (and '+dirty') when run from a checkout."""
    from importlib.metadata import version

    here = Path(__file__).resolve().parent
    try:
        cmd = ["git", "-C", str(here), "describe", "--always", "--dirty"]
        commit = subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{version('search-scaling')}+{commit}" if commit else version("search-scaling")


def owner_id() -> str:
    return os.environ.get("SEARCH_SCALING_OWNER") or f"{socket.gethostname()}:{os.getpid()}"


class Recorder:
    """The `CurveSink` of one run: Parquet part files, then the MLflow mirror, then a heartbeat."""

    def __init__(self, stores: Stores, sweep_id: str, owner: str):
        self.stores, self.sweep_id, self.owner = stores, sweep_id, owner
        self.mirror = SafeMirror(stores.mirror)
        self.mlflow_run: str | None = None

    def start(self, spec, scale: dict) -> None:
        self.started = dt.datetime.now(dt.timezone.utc)
        row = run_row(spec, scale, "running", self.started)
        self.stores.parquet.write_run(self.sweep_id, spec.run_hash, row)
        identity = mlflow_identity(spec, scale)
        self.mlflow_run = self.mirror("child_run", self.sweep_id, spec.run_hash, *identity)

    def write_curves(self, spec, rows: list[dict], first_step: int, last_step: int) -> None:
        self.stores.parquet.write_curves(self.sweep_id, spec.run_hash, rows, first_step, last_step)
        if self.mlflow_run:
            self.mirror("log_curves", self.mlflow_run, rows)
        self.heartbeat(spec)

    def heartbeat(self, spec) -> None:
        self.stores.ledger.heartbeat(spec.run_hash, self.owner)

    def finish(self, spec, scale: dict, status: str, result=None, error: str | None = None) -> None:
        row = run_row(spec, scale, status, self.started, result)
        self.stores.parquet.write_run(self.sweep_id, spec.run_hash, row)
        if self.mlflow_run:
            final = result.final if result is not None else None
            self.mirror("finish", self.mlflow_run, status, final, {"spec.json": spec.to_json()})
        self.stores.ledger.finish(spec.run_hash, status, error)


def mlflow_identity(spec, scale: dict) -> tuple[str, dict, dict]:
    """(run name, params as a nested dict, tags) of a run's MLflow child."""
    name = f"{spec.task}-{spec.size}-{spec.model}-s{spec.seed}"
    params = {**json.loads(spec.to_json()), "model_config": spec.model_config.to_dict(), "scale": scale}
    tags = {"task": spec.task, "task_size": spec.size, "model": spec.model, "seed": spec.seed,
            "params_nonembed": scale["params_nonembed"]}  # fmt: skip
    return name, params, tags


def run_row(spec, scale: dict, status: str, started: dt.datetime, result=None) -> dict:
    cfg = spec.model_config
    finished = dt.datetime.now(dt.timezone.utc) if status != "running" else None
    return {
        "task": spec.task, "task_size": spec.size, "size_name": spec.task_obj.size_name, "model": spec.model,
        "n_layers": cfg.n_layers, "d_model": cfg.d_model, "n_heads": cfg.n_heads, "d_head": cfg.d_head,
        "d_mlp": cfg.d_mlp, "d_vocab": cfg.d_vocab, "n_ctx": cfg.n_ctx, **scale, "seed": spec.seed,
        "steps": result.steps if result else None, "tokens": result.tokens if result else None,
        "status": status, "started_at": started, "finished_at": finished,
        "train_seconds": result.train_seconds if result else None,
        "final_json": json.dumps(result.final) if result else None, "spec_json": spec.to_json(),
        "code_version": code_version(),
    }  # fmt: skip


def record_run(spec, stores: Stores, owner: str | None = None, verbose: bool = False,
               stale_after_s: float = 120.0, **train_kwargs):  # fmt: skip
    """Train ``spec`` unless the ledger says it is finished (or another worker holds it), writing
    everything through the stores. Returns the RunResult, or None when there was nothing to do."""
    from search_scaling.training import train_one
    from search_scaling.training.run import plan_run

    sweep_id = spec.sweep or DEFAULT_SWEEP
    owner = owner or owner_id()
    stores.ledger.ensure(sweep_id, [spec.run_hash])
    if not stores.ledger.claim(spec.run_hash, owner, stale_after_s):
        return None
    recorder = Recorder(stores, sweep_id, owner)
    plan = plan_run(spec)
    scale = plan[2]
    recorder.start(spec, scale)
    try:
        result = train_one(spec, stores.workdir, sink=recorder, verbose=verbose, plan=plan, **train_kwargs)
    except BaseException as err:
        recorder.finish(spec, scale, "failed", error="".join(traceback.format_exception_only(err)).strip())
        raise
    recorder.finish(spec, result.scale, result.status, result)
    return result


def sync_mlflow(stores: Stores, sweep: str | None = None) -> dict[str, int]:
    """Backfill MLflow from the Parquet store: create missing runs, log the curve points each run
    lacks (past its logged_step tag), set final statuses. Returns {run_hash: points logged}."""
    from search_scaling.training import RunSpec

    if stores.mirror is None:
        raise ValueError("no MLflow tracking URI configured (--tracking-uri or MLFLOW_TRACKING_URI)")
    mirror, logged = stores.mirror, {}
    runs = stores.parquet.runs(sweep=sweep)
    for row in runs.itertuples(index=False):
        spec = RunSpec.from_dict(json.loads(row.spec_json))
        scale = {k: getattr(row, k) for k in SCALE_COLUMNS}
        run_id = mirror.child_run(row.sweep_id, row.run_hash, *mlflow_identity(spec, scale))
        curves = stores.parquet.curves(sweep=row.sweep_id, run_hash=row.run_hash, with_runs=False)
        logged[row.run_hash] = mirror.log_curves(run_id, curves.to_dict("records"))
        if row.status != "running":
            final = json.loads(row.final_json) if row.final_json else None
            mirror.finish(run_id, row.status, final, {"spec.json": spec.to_json()})
    return logged
