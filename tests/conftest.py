"""Shared fixtures: a real PostgreSQL server for the ledger and MLflow backend tests."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import pytest

from tests.postgres import HOW_TO_ENABLE, PostgresServer

# One torch thread per test process (and, through the environment, per CLI, sweep and Ray worker it
# starts): `make test` runs two workers on two cores, and two threads each made every training test
# wait on the other worker's threads (a 150-step run: 3 s on one thread, 56 s on two while the
# other core was busy).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# `compile: auto` never compiles in tests (a compile costs ~15-110 s here); the one test that compiles
# asks for `compile: on` (tests/unit/training/test_compiled_step.py).
os.environ.setdefault("SEARCH_SCALING_COMPILE", "off")

# Heaviest files first (`pytest --durations`, one thread per worker): loadfile hands files to the two
# workers in this order (the Makefile turns off xdist's default order, most tests first, which left
# the cluster test to run last while the other worker sat idle).
HEAVY_FIRST = (
    "tests/integration/test_sweep_cluster.py",
    "tests/integration/test_report.py",
    "tests/integration/test_tune.py",
    "tests/integration/test_tune_faults.py",
    "tests/integration/test_sweep_repairs.py",
    "tests/integration/test_sweep_kills.py",
    "tests/integration/test_sweep_local.py",
    "tests/integration/test_store_faults.py",
    "tests/integration/test_sweep_faults.py",
    "tests/integration/test_claims.py",
    "tests/integration/test_store_hardening.py",
    "tests/unit/training/test_training.py",  # heavy only while two torch threads per worker fought
    "tests/unit/training/test_pack.py",
    "tests/unit/training/test_compiled_step.py",  # ~2 min the first time (empty compile cache), then ~12 s
    "tests/unit/analysis/test_fits.py",
)

_names = itertools.count()


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)
    root = Path(__file__).parent.parent
    if missing := [path for path in HEAVY_FIRST if not (root / path).exists()]:
        raise pytest.UsageError(f"tests/conftest.py HEAVY_FIRST names missing files: {missing}")


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: others keep order


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
