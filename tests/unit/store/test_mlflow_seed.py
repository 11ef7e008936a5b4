"""A new SQLite MLflow database is a copy of the migrated empty one: MLflow opens it as current,
the Default experiment names this store's folder, and an existing database is never replaced."""

from __future__ import annotations

import sqlite3

from search_scaling.store.mirror import Mirror
from search_scaling.store.mlflow_seed import seed_database


def _rows(db, sql):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_a_seeded_database_is_current_and_points_at_its_own_folder(tmp_path):
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    assert seed_database(db, tmp_path / "store" / "mlartifacts")
    assert _rows(db, "select experiment_id, artifact_location from experiments") == [
        (0, str(tmp_path / "store" / "mlartifacts" / "0"))
    ]
    mirror = Mirror(f"sqlite:///{db}")  # MLflow accepts the copy as an up-to-date database
    assert mirror.down is None and mirror.experiment("sweep") == "1"
    assert not seed_database(db)  # an existing database is left alone ...
    assert _rows(db, "select name from experiments order by experiment_id") == [("Default",), ("sweep",)]
    assert not seed_database(tmp_path / "missing" / "mlflow.db")  # ... and so is a missing folder
    assert list((tmp_path / "store").glob("*.tmp")) == []
