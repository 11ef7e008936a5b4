"""The run ledger on SQLite and on a real PostgreSQL server: claims, staleness, concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from search_scaling.store import Ledger
from search_scaling.store.ledger import Heartbeat, LostClaim


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("pg_database")


def test_lifecycle(ledger_url):
    ledger = Ledger(ledger_url)
    assert ledger.ensure("s", ["a", "b", "a"]) == 2 and ledger.ensure("s", ["a", "c"]) == 1
    assert ledger.claim("a", "w1") == 1 and ledger.claim("a", "w2") is None  # held by a live worker
    assert ledger.claim("a", "w1") == 2  # the same owner (a retried trial) may take it back
    ledger.finish("a", "done", attempt=2)
    assert ledger.claim("a", "w1") is None and ledger.is_finished("a")
    assert ledger.claim("b", "w1") == 1
    ledger.finish("b", "failed", error="boom", attempt=1)
    assert ledger.get("b")["error"] == "boom" and ledger.errors(["a", "b"]) == {"b": "boom"}
    assert ledger.claim("b", "w2") == 2  # failed cells are retried
    assert ledger.counts(["a", "b", "c", "zzz"]) == {"done": 1, "running": 1, "pending": 2}


def test_a_superseded_claim_can_neither_beat_nor_finish(ledger_url):
    """The fencing token: once a stale claim is taken over, the old attempt's writes are refused."""
    ledger = Ledger(ledger_url)
    ledger.ensure("s", ["a"])
    old = ledger.claim("a", "slow-worker")
    assert ledger.heartbeat("a", old)
    new = ledger.claim("a", "w2", stale_after_s=-1)  # as if slow-worker had missed its beats
    assert new == old + 1 and not ledger.heartbeat("a", old)
    with pytest.raises(LostClaim, match=f"attempt {old} no longer holds the cell"):
        ledger.finish("a", "done", attempt=old)
    row = ledger.get("a")
    assert (row["status"], row["owner"], row["attempts"]) == ("running", "w2", new)
    ledger.finish("a", "done", attempt=new)
    assert ledger.is_finished("a")


def test_a_stopping_driver_releases_only_its_own_running_cells(ledger_url):
    ledger = Ledger(ledger_url)
    ledger.ensure("s", ["a", "b"])
    ledger.claim("a", "driver1:a")
    ledger.claim("b", "driver2:b")
    assert ledger.release("a", "driver1:a") and not ledger.release("b", "driver1:b")
    assert ledger.errors(["a", "b"]) == {"a": "interrupted"} and ledger.get("b")["status"] == "running"
    assert ledger.claim("a", "driver3:a") == 2  # a rerun trains the released cell again


def test_the_heartbeat_thread_keeps_a_claim_live_and_notices_a_takeover(ledger_url):
    ledger = Ledger(ledger_url)
    ledger.ensure("s", ["a"])
    attempt = ledger.claim("a", "w1")
    with Heartbeat(ledger, "a", attempt, interval=0.05) as beat:
        time.sleep(0.6)  # no progress at all: only the thread beats
        assert ledger.claim("a", "w2", stale_after_s=0.3) is None
        assert ledger.claim("a", "w2", stale_after_s=-1) == attempt + 1
        deadline = time.time() + 5
        while not beat.lost and time.time() < deadline:
            time.sleep(0.02)
        assert beat.lost


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
from search_scaling.store.ledger import Heartbeat, LostClaim
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
