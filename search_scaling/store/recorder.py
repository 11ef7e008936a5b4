"""Where a run's results go: `Stores` (Parquet + ledger + MLflow, configured once) and `record_run`,
which wraps `train_one` with claiming, heartbeats, run rows, curve flushes and the final status."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import socket
import traceback
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from search_scaling.store.ledger import Heartbeat, Ledger, LostClaim
from search_scaling.store.locations import check_local_store, redact, sqlalchemy_url, store_root
from search_scaling.store.mirror import Mirror, MirrorUnavailable, default_tracking_uri
from search_scaling.store.parquet import ParquetStore
from search_scaling.version import code_version

ENV_STORE = "SEARCH_SCALING_STORE"
ENV_LEDGER = "SEARCH_SCALING_LEDGER_URL"
ENV_TRACKING = "MLFLOW_TRACKING_URI"
DEFAULT_SWEEP = "adhoc"
SCALE_COLUMNS = ("params_embed", "params_nonembed", "params_total", "flops_per_token")
# A claim beats every STALE_AFTER_S / BEATS_PER_STALE seconds from its own thread; only a worker
# that missed a dozen beats in a row (dead, or frozen) is taken over. The environment variable
# shortens it where waiting a minute for an orphan costs too much (the fault tests).
STALE_AFTER_S = float(os.environ.get("SEARCH_SCALING_STALE_AFTER_S", 60.0))
BEATS_PER_STALE = 12


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
                mlflow: bool = True, create: bool = True) -> Stores:  # fmt: skip
        """The one resolution every command uses: arguments, else the environment variables, else
        the defaults. ``create``: a command that writes makes a missing local root; one that only
        reads (``create=False``) fails on it instead of leaving an empty store behind."""
        root = cls.locate(root, create)
        local = "://" not in root
        default_ledger = f"sqlite:///{root}/ledger.db" if local else None
        ledger_url = ledger_url or os.environ.get(ENV_LEDGER) or default_ledger
        if ledger_url is None:
            raise ValueError(f"store root {redact(root)!r} is not a local directory: set a ledger URL "
                             f"(--ledger-url or {ENV_LEDGER}, e.g. postgresql://...)")  # fmt: skip
        default_tracking = default_tracking_uri(root) if local else None
        tracking = (tracking_uri or os.environ.get(ENV_TRACKING) or default_tracking) if mlflow else None
        return cls(root, sqlalchemy_url(ledger_url), sqlalchemy_url(tracking) if tracking else None)

    @staticmethod
    def locate(root: str | Path | None = None, create: bool = True) -> str:
        """The store root from ``root``, else $SEARCH_SCALING_STORE, else ./runs: a local one as an
        absolute path (``file:///abs/path`` too), checked; any other URI (``s3://...``) unchanged."""
        root = store_root(root or os.environ.get(ENV_STORE) or "runs")
        if "://" not in root:
            check_local_store(root, create, f"--store or ${ENV_STORE}")
        return root

    def __repr__(self) -> str:  # locations may carry passwords
        fields = (self.root, self.ledger_url, self.tracking_uri)
        return "Stores({})".format(", ".join(repr(redact(f)) if f else "None" for f in fields))

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
        with first_use_lock(self.tracking_uri):
            return Mirror(self.tracking_uri, artifacts)

    @property
    def workdir(self) -> Path:
        """Checkpoints: under the store root when it is local."""
        return Path(self.root) / "checkpoints" if self.local else Path("runs/checkpoints").resolve()


class SafeMirror:
    """Mirror calls that never stop training: the first failure is warned about (once per process,
    password redacted) and mirroring stops; `search-scaling mlflow-sync` backfills from Parquet
    later. The `Mirror` bounds how long that first failure takes."""

    def __init__(self, mirror: Mirror | None):
        self.mirror, self.broken = mirror, mirror is None

    def __call__(self, method: str, *args, **kwargs):
        if self.broken:
            return None
        try:
            return getattr(self.mirror, method)(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 -- any MLflow failure must not stop training
            self.broken = True
            if not self.mirror.announced:  # else an earlier run in this process has warned
                self.mirror.announced = True
                why = str(err) if isinstance(err, MirrorUnavailable) else f"{type(err).__name__}: {err}"
                warnings.warn(f"MLflow mirror unavailable ({redact(why)}); the Parquet store stays "
                              "complete, run `search-scaling mlflow-sync` later", stacklevel=2)  # fmt: skip
            return None


@contextlib.contextmanager
def first_use_lock(tracking_uri: str):
    """Serialise MLflow's first use of a SQLite file between processes on this machine: creating
    the client runs the schema migrations, and two drivers doing it at once on a fresh store fail
    ("table experiments already exists") or leave the file unreadable (docs/PITFALLS.md #9)."""
    import fcntl

    db = Path(tracking_uri.removeprefix("sqlite:///"))
    if not tracking_uri.startswith("sqlite:///") or not db.parent.is_dir():  # no lock needed, or
        yield  # no such folder: MLflow's own error says so
        return
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def owner_id() -> str:
    return os.environ.get("SEARCH_SCALING_OWNER") or f"{socket.gethostname()}:{os.getpid()}"


class Recorder:
    """The `CurveSink` of one claimed run: Parquet part files, then the MLflow mirror. Every write
    is fenced by the claim's attempt number: once another worker holds the cell, the next write
    raises `LostClaim` and nothing more is written."""

    def __init__(self, stores: Stores, sweep_id: str, owner: str, attempt: int, beat: Heartbeat):
        self.stores, self.sweep_id, self.owner = stores, sweep_id, owner
        self.attempt, self.beat = attempt, beat
        self.tag = f"a{attempt}"  # in temporary file names
        self.mlflow_run: str | None = None
        self.scale: dict = {}
        self.started = dt.datetime.now(dt.timezone.utc)

    @functools.cached_property
    def mirror(self) -> SafeMirror:
        try:
            return SafeMirror(self.stores.mirror)
        except Exception as err:  # noqa: BLE001 -- e.g. the tracking database unreachable
            return SafeMirror(_Unavailable(err))  # training goes on; SafeMirror warns at first use

    def start(self, spec, scale: dict) -> None:
        self.scale = scale
        # Temporaries left by earlier attempts (killed mid-write): all of them are dead or fenced.
        self.stores.parquet.remove_temporaries(self.sweep_id, spec.run_hash)
        row = run_row(spec, scale, "running", self.started)
        self.stores.parquet.write_run(self.sweep_id, spec.run_hash, row, self.tag)
        identity = mlflow_identity(spec, scale)
        self.mlflow_run = self.mirror("child_run", self.sweep_id, spec.run_hash, *identity)

    def write_curves(self, spec, rows: list[dict], first_step: int, last_step: int) -> None:
        self.check_claim(spec, ask_ledger=True)  # before deleting parts another attempt may own
        self.stores.parquet.write_curves(self.sweep_id, spec.run_hash, rows, first_step, last_step, self.tag)
        if self.mlflow_run:
            self.mirror("log_curves", self.mlflow_run, rows)

    def write_weights(self, spec, step: int, data: dict) -> None:
        """A kept checkpoint, beside the curves (`store.weights`); a replayed step replaces it."""
        from search_scaling.store.weights import WeightStore
        from search_scaling.training.weights import to_bytes

        self.check_claim(spec)
        WeightStore(self.stores.parquet).write(self.sweep_id, spec.run_hash, step, to_bytes(data), self.tag)

    def check_claim(self, spec, ask_ledger: bool = False) -> None:
        if self.beat.lost:
            raise LostClaim(f"run {spec.run_hash}: attempt {self.attempt} lost its claim (a heartbeat "
                            "found another worker holding the cell); stopped without writing")  # fmt: skip
        if ask_ledger:
            self.stores.ledger.assert_held(spec.run_hash, self.attempt)

    def finish(self, spec, scale: dict, status: str, result=None) -> None:
        self.check_claim(spec, ask_ledger=True)
        row = run_row(spec, scale, status, self.started, result)
        self.stores.parquet.write_run(self.sweep_id, spec.run_hash, row, self.tag)
        if self.mlflow_run:
            self.mirror("finish", self.mlflow_run, status, {"spec.json": spec.to_json()}, finish_tags(result))
        self.stores.ledger.finish(spec.run_hash, status, attempt=self.attempt)

    def fail(self, spec, err: BaseException) -> None:
        """End the cell ``failed`` with ``err`` recorded, as far as the stores allow. The ledger
        comes last and always: a failed Parquet write must not leave the cell ``running``. Raises
        `LostClaim` (and writes nothing) if another worker holds the cell by now."""
        error = "interrupted" if isinstance(err, KeyboardInterrupt) else describe(err)
        self.check_claim(spec, ask_ledger=True)
        try:
            self.stores.parquet.remove_temporaries(self.sweep_id, spec.run_hash, self.tag)
            row = run_row(spec, self.scale, "failed", self.started, error=error)
            self.stores.parquet.write_run(self.sweep_id, spec.run_hash, row, self.tag)
        except Exception as write_err:  # noqa: BLE001 -- e.g. the very write that failed first
            error += f" (and its runs row could not be written: {describe(write_err)})"
        if self.mlflow_run:
            self.mirror("finish", self.mlflow_run, "failed", {"spec.json": spec.to_json()})
        self.stores.ledger.finish(spec.run_hash, "failed", error, attempt=self.attempt)


class _Unavailable:
    """Stands in for a mirror that could not be created: every MLflow call raises its error."""

    announced = False  # SafeMirror's own bookkeeping, as on a `Mirror`

    def __init__(self, err: Exception):
        self.err = err

    def __getattr__(self, name: str):
        raise self.err


def describe(err: BaseException) -> str:
    """The exception's type and message (which names the path or field), as a traceback ends;
    passwords in any URL it quotes (a database error names its URL) are redacted."""
    return redact("".join(traceback.format_exception_only(err)).strip())


def mlflow_identity(spec, scale: dict) -> tuple[str, dict, dict, dict]:
    """(run name, params as a nested dict, tags, numeric metrics) of a run's MLflow child.

    The name shows task, problem size, model and seed in its first characters, then the run hash
    (what `inspect` and `status` take). MLflow params are strings, so what people sort by (sizes,
    parameter counts, FLOPs, learning rate) is also logged as metrics at step 0; unset fields
    (None, empty) are left out, and the problem size is named for what it is (grid_n for mazes)."""
    size_name = spec.task_obj.size_name
    name = f"{spec.label} {spec.run_hash[:6]}"
    fields = json.loads(spec.to_json())
    fields[size_name] = fields.pop("size")
    params = {**fields, "model_config": spec.model_config.to_dict()}
    tags = {"task": spec.task, size_name: spec.size, "model": spec.model, "seed": spec.seed}
    metrics = {f"scale/{k}": float(scale[k]) for k in SCALE_COLUMNS if k in scale}
    budget = {"steps": spec.steps, "tokens": spec.tokens}
    metrics |= {f"spec/{k}": float(v) for k, v in {size_name: spec.size, "seed": spec.seed, "lr": spec.lr,
                                                    **budget}.items() if v is not None}  # fmt: skip
    return name, params, tags, metrics


def finish_tags(result) -> dict:
    """MLflow tags set when a run finishes: why and where it stopped (`stop_tags`) and how it was
    trained (``search_scaling.training_mode``: eager | compiled | packed, see `training.compiled`)."""
    mode = getattr(result, "training_mode", None)
    return {**stop_tags(result), **({"search_scaling.training_mode": mode} if isinstance(mode, str) else {})}


def stop_tags(result) -> dict:
    """MLflow tags of why and where a finished run stopped (a RunResult or a runs-table row; empty
    for runs without a reason, e.g. rows written before stop rules existed)."""
    reason = getattr(result, "stop_reason", None)
    if not isinstance(reason, str):  # None, or NaN from a runs table read through pandas
        return {}
    step = result.stopped_step if hasattr(result, "stopped_step") else result.steps
    return {"search_scaling.stop_reason": reason, "search_scaling.stopped_step": str(int(step))}


def run_row(spec, scale: dict, status: str, started: dt.datetime, result=None,
            error: str | None = None) -> dict:  # fmt: skip
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
        "code_version": code_version(), "error": error,
        "stop_reason": getattr(result, "stop_reason", None),
        "stopped_step": result.steps if getattr(result, "stop_reason", None) else None,
        "training_mode": getattr(result, "training_mode", None),
    }  # fmt: skip


def record_run(spec, stores: Stores, owner: str | None = None, verbose: bool = False,
               stale_after_s: float = STALE_AFTER_S, **train_kwargs):  # fmt: skip
    """Train ``spec`` unless the ledger says it is finished (or another live worker holds it), writing
    everything through the stores. Returns the RunResult, or None when there was nothing to do.

    Once claimed, the run beats every ``stale_after_s / BEATS_PER_STALE`` seconds from a thread.
    Any exception after the claim ends the cell ``failed`` with the error recorded (Ctrl-C:
    "interrupted"), then propagates; `LostClaim` (another worker took the cell over) propagates
    with nothing written."""
    sweep_id = spec.sweep or DEFAULT_SWEEP
    owner = owner or owner_id()
    stores.ledger.ensure(sweep_id, [spec.run_hash])
    attempt = stores.ledger.claim(spec.run_hash, owner, stale_after_s)
    if attempt is None:
        return None
    with Heartbeat(stores.ledger, spec.run_hash, attempt, stale_after_s / BEATS_PER_STALE) as beat:
        recorder = Recorder(stores, sweep_id, owner, attempt, beat)
        try:
            return _train_claimed(spec, stores, recorder, verbose, train_kwargs)
        except LostClaim:
            raise
        except BaseException as err:
            recorder.fail(spec, err)
            raise


def _train_claimed(spec, stores: Stores, recorder: Recorder, verbose: bool, train_kwargs: dict):
    from search_scaling.store.weights import source_weights
    from search_scaling.training import train_one
    from search_scaling.training.run import inject_fault, plan_run

    inject_fault(spec, "setup")
    init_weights = source_weights(stores, spec) if spec.init_from else None  # a bad source fails here
    plan = plan_run(spec)
    recorder.start(spec, plan[2])
    result = train_one(spec, stores.workdir, sink=recorder, verbose=verbose, plan=plan,
                       init_weights=init_weights, **train_kwargs)  # fmt: skip
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
            mirror.finish(run_id, row.status, {"spec.json": spec.to_json()}, finish_tags(row))
    return logged
