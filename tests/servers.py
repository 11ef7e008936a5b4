"""Starting the servers tests need (Ray nodes, PostgreSQL) so that a failure shows the server's own
words: a bare `check=True` with `capture_output` swallows them and leaves only "returned non-zero
exit status 1"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

TAIL = 3000  # characters of each output and log shown: enough for a traceback's last frames


def start(cmd: list[str], what: str, logs=(), **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` (a command that starts ``what`` and returns); on a non-zero exit or a time-out,
    fail the test with its stdout, its stderr and the tail of each file in ``logs`` (a callable
    returning paths is read only then, when the server has written them)."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{what} did not start within {exc.timeout} s: {' '.join(cmd)}\n{_said(exc, logs)}")
    if done.returncode != 0:
        pytest.fail(f"{what} failed (exit {done.returncode}): {' '.join(cmd)}\n{_said(done, logs)}")
    return done


def _said(result, logs) -> str:
    parts = [f"--- stdout ---\n{_tail(result.stdout)}", f"--- stderr ---\n{_tail(result.stderr)}"]
    for path in logs() if callable(logs) else logs:
        text = Path(path).read_text(errors="replace") if Path(path).exists() else "(not written)"
        parts.append(f"--- {path} ---\n{_tail(text)}")
    return "\n".join(parts)


def _tail(text) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return (text or "")[-TAIL:]
