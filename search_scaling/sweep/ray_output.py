"""What Ray says, made fit for a person's display: a task's failure as one plain line (the original
exception, which ``RayTaskError`` carries as ``cause``, as a traceback ends: never Ray's rendering
of it, which wraps the worker's traceback in ANSI colour codes and, cut to a length, ended
mid-traceback in piped output), and the driver's messages about the cluster sent to the sweep's log."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # CSI sequences: colours, cursor moves


def plain_error(err: BaseException, limit: int = 500) -> str:
    """``ValueError: <message>`` of the task's own exception (carried by Ray as ``cause``, or
    returned by a worker as it was raised), else the last line of Ray's message (e.g. a worker that
    died), without colour codes, at most ``limit`` characters."""
    from search_scaling.store.recorder import describe

    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException) and cause is not err:
        text = describe(cause)
    elif not type(err).__module__.startswith("ray."):
        text = describe(err)
    else:
        lines = [line.strip() for line in ANSI.sub("", str(err)).splitlines() if line.strip()]
        text = lines[-1] if lines else type(err).__name__
    text = ANSI.sub("", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_ray_log: list[Path] = []  # the last sweep's log (`logs.stderr_to`): where Ray's driver messages go


def send_ray_messages_to(path: Path) -> None:
    """Where `ray_messages_to_log` writes from now on (for the rest of the process)."""
    _ray_log[:] = [path]


def ray_messages_to_log() -> bool:
    """Send the messages Ray's driver prints about the cluster (``(raylet) A worker died or was
    killed ...``, ``Task run_pack failed ... will be retried``, and their deduplicated repeats, which
    come seconds later, after the sweep) to the log of the last `logs.stderr_to` block, instead of
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
        if not _ray_log:
            original(data, sys.stderr, ignore_prefix)
            return
        try:
            with open(_ray_log[0], "a", encoding="utf-8", errors="replace") as log:
                original(data, log, ignore_prefix)
        except OSError:  # the log's folder is gone (a removed store): stderr, never stdout
            original(data, sys.stderr, ignore_prefix)

    to_log.to_log = True
    worker.print_worker_logs = to_log
    return True
