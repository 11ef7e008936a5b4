"""Wall-time cost of the progress measures (issue 16): the same run with ``progress: on`` and
``progress: off``, in one process, interleaved A/B so machine noise hits both.

    python benchmarks/progress_overhead.py [--task maze] [--size 4] [--model L2-D32] [--steps 1000]
        [--eval-points 16] [--eval-examples 256] [--reps 2]

Defaults are one cell of `sweeps/smoke.yaml` (the demo grid). Reports each run's wall time, the
seconds spent inside the measures, and the ratio on / off (the issue's bound: at most 1.10). The
two runs train identically (``progress`` is not part of the run's identity), so each repetition
uses a fresh work directory.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from search_scaling.measures import ProgressMeasures
from search_scaling.training import RunSpec, train_one


class Timed:
    """Adds up the seconds spent in `ProgressMeasures.__call__` (patched for this process)."""

    seconds = 0.0

    @classmethod
    def install(cls) -> None:
        inner = ProgressMeasures.__call__

        def timed(self, model, step):
            t0 = time.perf_counter()
            try:
                return inner(self, model, step)
            finally:
                cls.seconds += time.perf_counter() - t0

        ProgressMeasures.__call__ = timed


def one_run(spec: RunSpec) -> tuple[float, float, int]:
    """(wall seconds, seconds in the measures, probe rows) of a fresh run of ``spec``."""
    Timed.seconds = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = train_one(spec, tmp)
        wall = time.perf_counter() - t0
    return wall, Timed.seconds, sum(r["split"] == "probe" for r in result.rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="maze")
    parser.add_argument("--size", type=int, default=4)
    parser.add_argument("--model", default="L2-D32")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-points", type=int, default=16)
    parser.add_argument("--eval-examples", type=int, default=256)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    Timed.install()
    base = RunSpec(task=args.task, size=args.size, model=args.model, steps=args.steps, lr=3e-3,
                   eval_points=args.eval_points, eval_examples=args.eval_examples)  # fmt: skip
    walls: dict[str, list[float]] = {"on": [], "off": []}
    for rep in range(args.reps):
        for mode in ("on", "off") if rep % 2 == 0 else ("off", "on"):
            wall, inside, rows = one_run(base.with_(progress=mode))
            walls[mode].append(wall)
            print(f"rep {rep} progress {mode:3s}: {wall:7.1f} s, {inside:6.1f} s in the measures, "
                  f"{rows} probe rows")  # fmt: skip
    on, off = statistics.median(walls["on"]), statistics.median(walls["off"])
    print(f"median wall: on {on:.1f} s, off {off:.1f} s; ratio on/off {on / off:.3f} "
          f"(torch threads {torch.get_num_threads()})")  # fmt: skip


if __name__ == "__main__":
    main()
