"""Stores: the Parquet store (truth), the run ledger (who runs what), the MLflow mirror (for people)."""

from search_scaling.store.ledger import Ledger
from search_scaling.store.mirror import Mirror
from search_scaling.store.parquet import ParquetStore
from search_scaling.store.recorder import Stores, record_run

__all__ = ["Ledger", "Mirror", "ParquetStore", "Stores", "record_run"]
