"""The run ledger (SQLAlchemy): one row per run hash with its status, attempts and heartbeat.

It makes re-running a finished cell a no-op and lets several workers share a grid: `claim` is a
single conditional UPDATE, atomic in SQLite and PostgreSQL, so two workers never both win a cell.
A ``running`` cell whose heartbeat is older than ``stale_after_s`` is taken to be orphaned (its
worker died) and may be claimed again; so may a cell whose claim carries the caller's own owner id
(a retried Ray trial keeps its trial id).
"""

from __future__ import annotations

import datetime as dt
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
    insert,
    or_,
    select,
    update,
)

STATUSES = ("pending", "running", "done", "failed", "diverged")
FINISHED = ("done", "diverged")

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
        metadata.create_all(self.engine)

    def ensure(self, sweep_id: str, run_hashes: list[str]) -> int:
        """Register cells as ``pending`` unless known; returns how many were new."""
        with self.engine.begin() as conn:
            known = set(conn.scalars(select(runs.c.run_hash).where(runs.c.run_hash.in_(run_hashes))))
            new = [{"run_hash": h, "sweep_id": sweep_id, "status": "pending", "attempts": 0,
                    "updated_at": _now()} for h in dict.fromkeys(run_hashes) if h not in known]  # fmt: skip
            if new:
                conn.execute(insert(runs), new)
        return len(new)

    def claim(self, run_hash: str, owner: str, stale_after_s: float = 600.0) -> bool:
        """Take a cell to run. False if it is finished or another live worker holds it."""
        now = _now()
        stale = now - dt.timedelta(seconds=stale_after_s)
        claimable = or_(
            runs.c.status.in_(("pending", "failed")),
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
            return conn.execute(stmt).rowcount == 1

    def heartbeat(self, run_hash: str, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(runs).where((runs.c.run_hash == run_hash) & (runs.c.owner == owner))
                         .values(heartbeat_at=_now()))  # fmt: skip

    def finish(self, run_hash: str, status: str, error: str | None = None) -> None:
        if status not in STATUSES[2:]:
            raise ValueError(f"finish status must be one of {list(STATUSES[2:])}, got {status!r}")
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.run_hash == run_hash)
                         .values(status=status, error=error, updated_at=_now()))  # fmt: skip

    def get(self, run_hash: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.run_hash == run_hash)).mappings().first()
        return dict(row) if row else None

    def statuses(self, run_hashes: list[str]) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs.c.run_hash, runs.c.status).where(runs.c.run_hash.in_(run_hashes)))
            return dict(rows.all())

    def counts(self, run_hashes: list[str]) -> Counter:
        found = self.statuses(run_hashes)
        return Counter(found.get(h, "pending") for h in run_hashes)

    def is_finished(self, run_hash: str) -> bool:
        row = self.get(run_hash)
        return row is not None and row["status"] in FINISHED


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers (status, the UI) work while a worker writes; busy_timeout waits for locks.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()
