"""The project's cache folder, one rule for every cache in it (MLflow's migrated empty database,
torch.compile's kernels, measured compile times): ``$SEARCH_SCALING_CACHE``, else ``search-scaling``
in the user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SEARCH_SCALING_CACHE"


def cache_dir() -> Path:
    """``$SEARCH_SCALING_CACHE``, else ``search-scaling`` in the user's cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "search-scaling"
