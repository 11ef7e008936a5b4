"""The run ledger (SQLAlchemy): one row per run hash with its status, attempts and heartbeat.

It makes re-running a finished cell a no-op and lets several workers share a grid: `claim` is a
single conditional UPDATE, atomic in SQLite and PostgreSQL, so two workers never both win a cell.
A ``running`` cell whose heartbeat is older than ``stale_after_s`` is taken to be orphaned (its
worker died) and may be claimed again; so may a cell whose claim carries the caller's own owner id
(a retried Ray trial keeps its trial id).

Fencing: every claim increments ``attempts`` and hands that number back as the claim's token.
Heartbeats and ``finish`` only touch a row that is still ``running`` under the caller's token, so a
worker whose claim was taken over (it stalled past the stale threshold) cannot overwrite the new
owner: its next write raises `LostClaim`. `Heartbeat` beats from a thread, whatever the run is doing.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    exc,
    insert,
    or_,
    select,
    update,
)

from search_scaling.claims import LostClaim

STATUSES = ("pending", "running", "done", "failed", "diverged", "pruned")
FINISHED = ("done", "diverged")
# Claimable again: never run, failed, or stopped early by a hyperparameter search (a later search
# that lets it go on resumes it from its checkpoint).
RESTARTABLE = ("pending", "failed", "pruned")

metadata = MetaData()
runs = Table(
    "ledger_runs",
    metadata,
    Column("run_hash", String(64), primary_key=True),
    Column("sweep_id", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("owner", String(200)),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Column("error", Text),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Ledger:
    def __init__(self, url: str):
        self.url = url
        sqlite = url.startswith("sqlite")
        self.engine = create_engine(url, connect_args={"timeout": 60} if sqlite else {}, pool_pre_ping=True)
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        _retry_on_race(lambda: metadata.create_all(self.engine))

    def ensure(self, sweep_id: str, run_hashes: list[str]) -> int:
        """Register cells as ``pending`` unless known; returns how many were new."""
        return _retry_on_race(lambda: self._insert_new(sweep_id, run_hashes))

    def _insert_new(self, sweep_id: str, run_hashes: list[str]) -> int:
        with self.engine.begin() as conn:
            known = set(conn.scalars(select(runs.c.run_hash).where(runs.c.run_hash.in_(run_hashes))))
            new = [{"run_hash": h, "sweep_id": sweep_id, "status": "pending", "attempts": 0,
                    "updated_at": _now()} for h in dict.fromkeys(run_hashes) if h not in known]  # fmt: skip
            if new:
                conn.execute(insert(runs), new)
        return len(new)

    def claim(self, run_hash: str, owner: str, stale_after_s: float = 600.0) -> int | None:
        """Take a cell to run. Returns the claim's attempt number (its fencing token, >= 1), or None
        if the cell is finished or another live worker holds it."""
        now = _now()
        stale = now - dt.timedelta(seconds=stale_after_s)
        claimable = or_(
            runs.c.status.in_(RESTARTABLE),
            (runs.c.status == "running") & or_(runs.c.owner == owner, runs.c.heartbeat_at < stale),
        )
        stmt = (
            update(runs)
            .where((runs.c.run_hash == run_hash) & claimable)
            .values(
                status="running",
                owner=owner,
                attempts=runs.c.attempts + 1,
                heartbeat_at=now,
                updated_at=now,
                error=None,
            )  # fmt: skip
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount != 1:
                return None
            # Same transaction: the row is locked by our UPDATE, so this is our own attempt number.
            return conn.scalar(select(runs.c.attempts).where(runs.c.run_hash == run_hash))

    def heartbeat(self, run_hash: str, attempt: int) -> bool:
        """Mark a held claim alive; False (and nothing written) if ``attempt`` no longer holds it."""
        with self.engine.begin() as conn:
            stmt = update(runs).where(_held(run_hash, attempt)).values(heartbeat_at=_now())
            return conn.execute(stmt).rowcount == 1

    def assert_held(self, run_hash: str, attempt: int) -> None:
        """A heartbeat that raises `LostClaim` when ``attempt`` no longer holds the cell."""
        if not self.heartbeat(run_hash, attempt):
            raise LostClaim(self._lost(run_hash, attempt))

    def finish(self, run_hash: str, status: str, error: str | None = None, *, attempt: int) -> None:
        """End the claim ``attempt`` with ``status``; `LostClaim` if that claim was superseded."""
        if status not in STATUSES[2:]:
            raise ValueError(f"finish status must be one of {list(STATUSES[2:])}, got {status!r}")
        with self.engine.begin() as conn:
            stmt = update(runs).where(_held(run_hash, attempt)).values(status=status, error=error,
                                                                      updated_at=_now())  # fmt: skip
            if conn.execute(stmt).rowcount != 1:
                raise LostClaim(self._lost(run_hash, attempt))

    def release(self, run_hash: str, owner: str, error: str = "interrupted", status: str = "failed") -> bool:
        """End a cell still ``running`` under ``owner`` as ``status`` (failed or pruned) with ``error``
        (a driver that is stopping releases the cells its workers could not); a later run retrains
        (resumes) it. Its worker, if still alive, is fenced out at its next write. True if released."""
        if status not in RESTARTABLE[1:]:
            raise ValueError(f"release status must be one of {list(RESTARTABLE[1:])}, got {status!r}")
        with self.engine.begin() as conn:
            held = (runs.c.run_hash == run_hash) & (runs.c.status == "running") & (runs.c.owner == owner)
            stmt = update(runs).where(held).values(status=status, error=error, updated_at=_now())
            return conn.execute(stmt).rowcount == 1

    def reset(self, run_hash: str) -> bool:
        """Return a cell that no worker holds to ``pending`` (its outputs were removed: it is to be
        trained again from scratch). True if the ledger had the cell."""
        with self.engine.begin() as conn:
            stmt = (
                update(runs)
                .where((runs.c.run_hash == run_hash) & (runs.c.status != "running"))
                .values(status="pending", owner=None, heartbeat_at=None, error=None, updated_at=_now())
            )
            return conn.execute(stmt).rowcount == 1

    def _lost(self, run_hash: str, attempt: int) -> str:
        row = self.get(run_hash) or {}
        return (f"run {run_hash}: attempt {attempt} no longer holds the cell (ledger: status "
                f"{row.get('status')!r}, attempt {row.get('attempts')}, owner {row.get('owner')!r}); "
                "stopped without writing")  # fmt: skip

    def get(self, run_hash: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.run_hash == run_hash)).mappings().first()
        return dict(row) if row else None

    def statuses(self, run_hashes: list[str]) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs.c.run_hash, runs.c.status).where(runs.c.run_hash.in_(run_hashes)))
            return dict(rows.all())

    def held(self, owner_prefix: str, run_hashes: list[str] | None = None) -> list[dict]:
        """The ``running`` rows (run_hash, sweep_id, owner) whose owner starts with ``owner_prefix``
        (the trials of one search), among ``run_hashes`` if given."""
        cond = (runs.c.status == "running") & runs.c.owner.startswith(owner_prefix, autoescape=True)
        if run_hashes is not None:
            cond = cond & runs.c.run_hash.in_(run_hashes)
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs.c.run_hash, runs.c.sweep_id, runs.c.owner).where(cond))
            return [dict(r) for r in rows.mappings().all()]

    def errors(self, run_hashes: list[str]) -> dict[str, str]:
        """{run hash: recorded error} of the ``failed`` cells among ``run_hashes``."""
        with self.engine.connect() as conn:
            failed = (runs.c.run_hash.in_(run_hashes)) & (runs.c.status == "failed")
            rows = conn.execute(select(runs.c.run_hash, runs.c.error).where(failed))
            return {h: e or "(no error recorded)" for h, e in rows.all()}

    def sweep_statuses(self, sweep_id: str) -> dict[str, str]:
        """{run hash: status} of the runs registered under ``sweep_id``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs.c.run_hash, runs.c.status).where(runs.c.sweep_id == sweep_id))
            return dict(rows.all())

    def sweep_counts(self, sweep_id: str) -> Counter:
        """How many runs registered under ``sweep_id`` are in each status."""
        return Counter(self.sweep_statuses(sweep_id).values())

    def counts(self, run_hashes: list[str]) -> Counter:
        found = self.statuses(run_hashes)
        return Counter(found.get(h, "pending") for h in run_hashes)

    def is_finished(self, run_hash: str) -> bool:
        row = self.get(run_hash)
        return row is not None and row["status"] in FINISHED


def _held(run_hash: str, attempt: int):
    """The fencing condition: the cell is still running under the claim numbered ``attempt``."""
    return (runs.c.run_hash == run_hash) & (runs.c.status == "running") & (runs.c.attempts == attempt)


def _retry_on_race(fn, tries: int = 3):
    """Two drivers on a fresh ledger both see a table (or a cell) missing and both create it; the
    loser's error is harmless, and trying again sees what the winner wrote."""
    for i in range(tries):
        try:
            return fn()
        except (exc.IntegrityError, exc.OperationalError, exc.ProgrammingError):
            if i == tries - 1:
                raise


class Heartbeat:
    """Beats a held claim every ``interval`` seconds from a daemon thread while the run holds it,
    whatever the run is doing (set-up, a long evaluation, a checkpoint), so a live cell never looks
    stale. When a beat finds the claim gone, ``lost`` turns True and beating stops (the run checks
    ``lost`` every batch). Used as a context manager around the claimed work."""

    def __init__(self, ledger: Ledger, run_hash: str, attempt: int, interval: float):
        self.ledger, self.run_hash, self.attempt, self.interval = ledger, run_hash, attempt, interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_hash}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)  # a beat stuck on a locked database is harmless: it is fenced

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            # The ledger briefly unreachable: keep beating; if the claim goes stale meanwhile, the
            # run's next fenced write raises LostClaim.
            try:
                if not self.ledger.heartbeat(self.run_hash, self.attempt):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001
                continue


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers (status, the UI) work while a worker writes; busy_timeout waits for locks.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()
