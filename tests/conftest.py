"""Shared fixtures: a real PostgreSQL server for the ledger and MLflow backend tests."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import pytest

from tests.postgres import HOW_TO_ENABLE, PostgresServer

_names = itertools.count()
# Every Ray a test starts is its own local one: a plain `ray.init()` would join a cluster that `ray start`
# left registered on this machine (another test's, running in parallel, or a user's).
os.environ.setdefault("RAY_ADDRESS", "local")


@pytest.fixture(scope="session")
def postgres():
    base = Path(tempfile.mkdtemp(prefix="ss-pg-"))
    server = PostgresServer(base)
    if not server.available:
        pytest.skip(f"PostgreSQL server binaries not found: {HOW_TO_ENABLE}")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_database(postgres):
    """A fresh, empty database URL on the session's server."""
    return postgres.create_database(f"t{next(_names)}")


# Published scaling data (Chinchilla, BNSL, Gadre et al.): small public CSVs that ship inside the
# project with their README and sources, so a plain clone runs the tests against them.
PUBLISHED = Path(__file__).parent / "data" / "published"


@pytest.fixture(scope="session")
def published():
    return PUBLISHED
