"""A Ray task's failure as one plain line for people: the original exception (``RayTaskError``
carries it as ``cause``) as a traceback ends, never Ray's own rendering of it, which wraps the
worker's traceback in ANSI colour codes and, cut to a length, ended mid-traceback in piped output."""

from __future__ import annotations

import re

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # CSI sequences: colours, cursor moves


def plain_error(err: BaseException, limit: int = 500) -> str:
    """``ValueError: <message>`` of the task's own exception, else the last line of Ray's message
    (e.g. a worker that died), without colour codes, at most ``limit`` characters."""
    from search_scaling.store.recorder import describe

    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException) and cause is not err:
        text = describe(cause)
    else:
        lines = [line.strip() for line in ANSI.sub("", str(err)).splitlines() if line.strip()]
        text = lines[-1] if lines else type(err).__name__
    text = ANSI.sub("", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
