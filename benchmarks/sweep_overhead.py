"""Sweep overhead on Ray: a 16-cell grid of short runs, wall time against the ideal.

    python benchmarks/sweep_overhead.py [--steps 150] [--concurrency 2]

Ideal = (sum of the cells' own run times, measured inside each task) / concurrency. Ray start-up
(`ray.init`) is timed separately and excluded from the overhead, as the issue asks.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from search_scaling.store import Stores
from search_scaling.sweep.runner import run_sweep
from search_scaling.sweep.spec import parse_sweep


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--concurrency", type=int, default=2)
    args = p.parse_args()
    sweep = parse_sweep({
        "name": "bench16", "tasks": [{"task": "maze", "sizes": [3, 4]}], "models": ["L1-D8", "L2-D16"],
        "seeds": [0, 1, 2, 3], "training": {"eval_points": 8, "eval_examples": 64},
        "budget": {"steps": args.steps}, "max_concurrent": args.concurrency,
    })  # fmt: skip
    import ray

    start = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - start
    from search_scaling.sweep.runner import warm_worker

    start = time.perf_counter()
    warm = ray.remote(num_cpus=1)(warm_worker)
    ray.get([warm.remote() for _ in range(args.concurrency)])
    warmup = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        stores = Stores.resolve(tmp, mlflow=True)
        start = time.perf_counter()
        outcomes = []
        run_sweep(sweep, stores, progress=lambda state: outcomes.__setitem__(slice(None), state.outcomes))
        wall = time.perf_counter() - start
        runs = stores.parquet.runs(sweep="bench16")
    work = float(runs["train_seconds"].sum())
    in_task = sum(o.seconds for o in outcomes)
    ideal = in_task / args.concurrency
    print(f"16 cells x {args.steps} steps, concurrency {args.concurrency}: ray.init {startup:.1f}s, "
          f"worker warm-up (imports) {warmup:.1f}s")  # fmt: skip
    print(f"sweep wall {wall:.1f}s; sum of task times {in_task:.1f}s (training loops {work:.1f}s); "
          f"ideal {ideal:.1f}s; overhead {100 * (wall / ideal - 1):+.0f}%")  # fmt: skip


if __name__ == "__main__":
    main()
