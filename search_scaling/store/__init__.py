"""Stores: the Parquet store (truth), the run ledger (who runs what), the MLflow mirror (for people).

The names below are imported on first use: importing a light module of this package
(`store.locations`) must not load pandas, SQLAlchemy and pyarrow, so that a command can say what it
is doing before those imports take their seconds."""

from __future__ import annotations

import importlib

_WHERE = {"Ledger": "ledger", "Mirror": "mirror", "ParquetStore": "parquet", "Stores": "recorder",
          "record_run": "recorder"}  # fmt: skip


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"search_scaling.store.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'search_scaling.store' has no attribute {name!r}")


__all__ = ["Ledger", "Mirror", "ParquetStore", "Stores", "record_run"]
