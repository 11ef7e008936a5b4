"""Ending the Ray processes a test started, by process id: `ray stop --force` would end every Ray
cluster on the machine, including a user's running sweep or another test run (docs: PITFALLS #8)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path


def _parents() -> dict[int, int]:
    """{pid: parent pid} of every process (Linux /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    parents, found, frontier = _parents(), [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and everything it started (the local Ray of a driver: GCS, raylet, workers);
    the tree is read first, since killed children are re-parented and lose their lineage."""
    for p in [pid, *descendants(pid)]:
        _kill(p)


def kill_cluster(port: int) -> None:
    """SIGKILL the processes of the `ray start` cluster whose GCS listens on ``port``, their
    children (workers), and the rest of its Ray session: `ray start` leaves the autoscaler monitor
    and the log monitor detached, and their command lines name the session directory, not the port."""
    marks = (f"127.0.0.1:{port}", f"--port={port}", f"gcs_server_port={port}")
    processes = _cmdlines()
    ours = [text for text in processes.values() if any(m in text for m in marks)]
    sessions = {name for text in ours for name in SESSION.findall(text)}
    for pid, text in processes.items():
        if any(m in text for m in marks) or any(name in text for name in sessions):
            kill_tree(pid)
    # `ray start` named this cluster the machine's current one; a later `ray.init()` would try to
    # join the dead address instead of starting its own (what `ray stop` cleans up too).
    current = Path("/tmp/ray/ray_current_cluster")
    with contextlib.suppress(OSError):
        if current.read_text().strip().endswith(f":{port}"):
            current.unlink()


SESSION = re.compile(r"session_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_\d+_\d+")  # one Ray session's name


def _cmdlines() -> dict[int, str]:
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        found[int(cmdline.parent.name)] = text
    return found


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
