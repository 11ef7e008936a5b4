"""The run ledger on SQLite and on a real PostgreSQL server: claims, staleness, concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from search_scaling.store import Ledger


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("pg_database")


def test_lifecycle(ledger_url):
    ledger = Ledger(ledger_url)
    assert ledger.ensure("s", ["a", "b", "a"]) == 2 and ledger.ensure("s", ["a", "c"]) == 1
    assert ledger.claim("a", "w1") and not ledger.claim("a", "w2")  # held by a live worker
    assert ledger.claim("a", "w1")  # the same owner (a retried trial) may take it back
    ledger.finish("a", "done")
    assert not ledger.claim("a", "w1") and ledger.is_finished("a")
    assert ledger.claim("b", "w1")
    ledger.finish("b", "failed", error="boom")
    assert ledger.get("b")["error"] == "boom" and ledger.claim("b", "w2")  # failed cells are retried
    assert ledger.get("b")["attempts"] == 2
    assert ledger.counts(["a", "b", "c", "zzz"]) == {"done": 1, "running": 1, "pending": 2}


def test_orphaned_cells_are_reclaimed_after_their_heartbeat_goes_stale(ledger_url):
    ledger = Ledger(ledger_url)
    ledger.ensure("s", ["a"])
    assert ledger.claim("a", "dead-worker")
    assert not ledger.claim("a", "w2", stale_after_s=60)
    time.sleep(0.3)
    assert ledger.claim("a", "w2", stale_after_s=0.2)


CLAIMER = """
import json, random, sys
from search_scaling.store import Ledger
ledger = Ledger(sys.argv[1])
hashes = [f"h{i}" for i in range(40)]
random.Random(int(sys.argv[2])).shuffle(hashes)
print(json.dumps([h for h in hashes if ledger.claim(h, "worker" + sys.argv[2])]))
"""


def test_concurrent_workers_never_claim_the_same_cell(ledger_url):
    Ledger(ledger_url).ensure("s", [f"h{i}" for i in range(40)])
    cmd = [sys.executable, "-c", CLAIMER, ledger_url]
    procs = [subprocess.Popen([*cmd, str(i)], stdout=subprocess.PIPE, text=True) for i in range(8)]
    won = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    claimed = [h for w in won for h in w]
    assert sorted(claimed) == sorted(f"h{i}" for i in range(40))  # each exactly once
