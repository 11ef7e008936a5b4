"""A command that started Ray stops it itself, with Ctrl-C held off meanwhile.

Left to Ray's own atexit hook, stopping the local Ray (GCS, raylet, workers: seconds) runs while the
interpreter exits: a Ctrl-C then raises inside the hook, Python prints "Exception ignored in atexit
callback" with a traceback, the exit code stays 0 and Ray's processes may be left behind. Shut down
here instead, with SIGINT noted rather than raised (`sigint_held`), so the shutdown completes and
the command exits 130 (interrupted) without a traceback. The same hold protects other clean-up
that must not stop halfway (`tune` releasing its interrupted runs).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

INTERRUPTED = 130


@contextlib.contextmanager
def sigint_held(doing: str):
    """Within: Ctrl-C is noted (one line saying what is being finished), not raised. Yields a list
    that holds the signals received."""
    pressed: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield pressed  # signal handlers can only be set from the main thread
        return

    def hold(signum, frame) -> None:
        if not pressed:
            print(f"\n{doing} (a few seconds; stopping it halfway would leave it broken) ...",
                  file=sys.stderr, flush=True)  # fmt: skip
        pressed.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def sigterm_as_ctrl_c():
    """Within: SIGTERM (`kill PID`, a scheduler preempting the job) stops the driver as Ctrl-C does,
    so its cells are released at once instead of staying held until their heartbeat goes stale.
    Set after ``ray.init``, whose crash handler otherwise takes SIGTERM and kills the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def shutdown_ray(rc: int) -> int:
    """Stop Ray if this process has it running; returns ``rc``, or 130 if Ctrl-C came meanwhile."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return rc
    with sigint_held("stopping Ray") as pressed:
        ray.shutdown()
    return INTERRUPTED if pressed else rc
