"""A new SQLite MLflow database starts as a copy of an empty, migrated one.

MLflow builds a fresh database by running its alembic schema migrations: 3.4 s more than opening
an existing one (4.9 s against 1.5 s wall on the 2-core VM), paid by every new store, every first
`make demo` and every test that mirrors into a temporary store. What the migrations produce depends
only on the MLflow version, so it is built once per version, in a cache folder, and copied. MLflow
then opens the copy like any existing database (it checks the schema revision and finds it current).

The copy appears atomically (``os.link`` of a finished temporary file), so a second process that
races to create the same database either finds the whole file or makes its own and loses the link.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from pathlib import Path

from search_scaling.cache import CACHE_ENV, cache_dir  # noqa: F401 -- CACHE_ENV: its old home


def seed_database(db_file: str | Path, artifact_root: Path | None = None) -> bool:
    """Create ``db_file`` as a copy of the migrated empty database; False (and nothing done) when
    it already exists or its folder does not (MLflow's own error then says so)."""
    db = Path(db_file)
    if db.exists() or not db.parent.is_dir():
        return False
    template = _template()
    fd, tmp = tempfile.mkstemp(prefix=f".{db.name}.", suffix=".tmp", dir=db.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(template, "rb") as src:
            out.write(src.read())
        _point_default_experiment(Path(tmp), (artifact_root or db.parent / "mlruns") / "0")
        os.link(tmp, db)  # fails if another process made the database first: theirs stays
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def _template() -> Path:
    """The migrated empty database of this MLflow version, built on first use."""
    from importlib.metadata import version

    path = cache_dir() / f"mlflow-{version('mlflow')}-empty.db"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        built = Path(tmp) / "empty.db"
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri=f"sqlite:///{built}").search_experiments()  # runs the migrations
        _dispose_engines()
        os.replace(built, path)  # another process building the same template: either one is fine
    return path


def _dispose_engines() -> None:
    """MLflow caches one SQLAlchemy engine per URI; the template's file is about to move."""
    try:
        from mlflow.store.db import utils

        for engine in getattr(utils, "_engines", {}).values():
            engine.dispose()
    except Exception:  # noqa: BLE001 -- an internal of MLflow's; SQLite copes with an open handle
        pass


def _point_default_experiment(db: Path, location: Path) -> None:
    """The template's "Default" experiment (id 0) names the template's folder: name this store's."""
    now = int(time.time() * 1000)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE experiments SET artifact_location = ?, creation_time = ?, last_update_time = ? "
                     "WHERE experiment_id = 0", (str(location), now, now))  # fmt: skip
    conn.close()
