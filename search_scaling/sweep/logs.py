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
    from search_scaling.sweep.ray_output import send_ray_messages_to

    path.parent.mkdir(parents=True, exist_ok=True)
    send_ray_messages_to(path)  # Ray's late messages follow, after the block too
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
