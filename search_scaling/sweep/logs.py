"""Keep what libraries print (Ray's start-up and token-auth warnings, MLflow's database messages,
Python warnings) out of a sweep's display: while the sweep runs, the process's stderr, at the file
descriptor (C++ parts of Ray write there too) and at ``sys.stderr``, goes to a log file whose path
the display prints. Our own messages go to stdout through the display; errors are printed after
stderr is restored."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

_ray_log: Path | None = None  # the last sweep log: where Ray's driver messages go


def log_path(store_root: str, sweep: str) -> Path:
    """``<store>/logs/<sweep>-<time>.log`` for a local store; ``./logs/...`` for a remote one, or the
    temporary folder where that cannot be written."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for base in (Path(store_root) if "://" not in store_root else Path.cwd(), Path(tempfile.gettempdir())):
        try:
            (base / "logs").mkdir(parents=True, exist_ok=True)
            probe = base / "logs" / f"{sweep}-{stamp}.log"
            probe.touch()
            return probe
        except OSError:
            continue
    raise ValueError(f"no folder to write the sweep's log into ({store_root}/logs, {tempfile.gettempdir()})")


@contextlib.contextmanager
def stderr_to(path: Path):
    """Send stderr (fd 2 and ``sys.stderr``) to ``path`` (appended) inside the block."""
    global _ray_log
    path.parent.mkdir(parents=True, exist_ok=True)
    _ray_log = path  # Ray's late messages follow, after the block too (`ray_messages_to_log`)
    for stream in (sys.stdout, sys.stderr, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()
    with open(path, "a", buffering=1, encoding="utf-8", errors="replace") as log:
        saved_fd, saved = os.dup(2), sys.stderr
        os.dup2(log.fileno(), 2)
        sys.stderr = log
        try:
            yield path
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            sys.stderr = saved


def ray_messages_to_log() -> bool:
    """Send the messages Ray's driver prints about the cluster (``(raylet) A worker died or was
    killed ...``, ``Task run_pack failed ... will be retried``, and their deduplicated repeats, which
    come seconds later, after the sweep) to the log of the last `stderr_to` block, instead of
    stdout, where they broke into the display and its end with colour codes. Ray prints them from a
    thread through ``ray._private.worker.print_worker_logs`` with stdout as the sink; that private
    function is wrapped here (once per process). False where this Ray has no such function (they
    then go to stdout, as before)."""
    try:
        from ray._private import worker
    except ImportError:
        return False
    original = getattr(worker, "print_worker_logs", None)
    if original is None or getattr(original, "to_log", False):
        return original is not None

    def to_log(data, print_file, ignore_prefix: bool = False):
        if _ray_log is None:
            original(data, sys.stderr, ignore_prefix)
            return
        try:
            with open(_ray_log, "a", encoding="utf-8", errors="replace") as log:
                original(data, log, ignore_prefix)
        except OSError:  # the log's folder is gone (a removed store): stderr, never stdout
            original(data, sys.stderr, ignore_prefix)

    to_log.to_log = True
    worker.print_worker_logs = to_log
    return True
