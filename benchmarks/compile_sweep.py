"""End-to-end sweep with ``compile: auto`` against ``compile: off`` (issue 33, item 3).

    python benchmarks/compile_sweep.py [--size 5] [--models L1-D32,L2-D32,L3-D32,L2-D48,L3-D64]
        [--seeds 3] [--steps 15000] [--concurrency 2] [--out results/compile_sweep.json]

One maze size (grid tokenization, the recipe's), 5 models x 3 seeds, run twice through
`search_scaling.sweep.runner.run_sweep` on local Ray, each time on a fresh store: first ``compile: off``, then
``compile: auto`` with an EMPTY compile cache (a fresh ``SEARCH_SCALING_CACHE``), so the auto arm pays
every cold compile a first sweep on a new machine pays. Reported: each arm's wall time (Ray start-up
excluded), the ratio off / auto, and which cells ``auto`` compiled (the runs table's
``training_mode``). Both arms train the same cells (compile is not hashed), evaluate alike and stop on
the same step cap (no stop rules: a compiled and an eager run drift apart in fp32 after tens of steps,
so a stop rule could end them at different steps and the ratio would measure that instead).

Cost: the arms train the same steps; at the defaults about 15 cells x 15,000 steps x ~53 ms (L2-D32 5x5 grid,
RESULTS issue 28; L3-D64 slower) / 2 workers = well over an hour per arm on the 2-core VM. On CPU
``auto`` compiles nothing at any ``--steps`` (``SPEEDUP["cpu"]`` is 1.0: the ratio is 1.0 by
construction, so it was not run there); on a GPU ``--steps`` below ``compile.decide``'s break-even does
the same. The script says so.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from search_scaling.store import Stores
from search_scaling.sweep.runner import run_sweep
from search_scaling.sweep.spec import parse_sweep


def sweep_spec(args, compile_mode: str) -> dict:
    return {
        "name": f"compile_{compile_mode}",
        "tasks": [{"task": "maze", "sizes": [args.size], "options": {"tokenization": "grid"}}],
        "models": args.models.split(","),
        "seeds": list(range(args.seeds)),
        "training": {
            "batch_size": 64,
            "lr": 3.0e-3,
            "eval_points": 10,
            "eval_examples": 256,
            "progress": "off",
            "compile": compile_mode,
        },  # fmt: skip
        "budget": {"steps": args.steps},
        "resources": {"cpus": 1},
        "max_concurrent": args.concurrency,
    }


def one_arm(args, compile_mode: str, cache: Path) -> dict:
    import ray

    env = {"SEARCH_SCALING_CACHE": str(cache), "SEARCH_SCALING_COMPILE": compile_mode}
    os.environ.update(env)  # the driver's decisions (validate's summary) see the same cache
    sweep = parse_sweep(sweep_spec(args, compile_mode))
    # address="local": a new cluster, never one a running sweep left in /tmp/ray
    ray.init(address="local", include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stores = Stores.resolve(tmp, mlflow=True)
            start = time.perf_counter()
            run_sweep(sweep, stores)
            wall = time.perf_counter() - start
            runs = stores.parquet.runs(sweep=sweep.name)
    finally:
        ray.shutdown()
    modes = runs.get("training_mode")
    compiled = (
        sorted(runs.loc[modes.astype(str).str.contains("compiled"), "model"]) if modes is not None else []
    )
    return {"wall_s": wall, "cells": len(runs), "train_seconds": float(runs["train_seconds"].sum()),
            "compiled_cells": compiled}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=5)
    p.add_argument("--models", default="L1-D32,L2-D32,L3-D32,L2-D48,L3-D64")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=15000)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        arms = {mode: one_arm(args, mode, Path(cache) / mode) for mode in ("off", "auto")}
    ratio = arms["off"]["wall_s"] / arms["auto"]["wall_s"]
    for mode, arm in arms.items():
        compiled = arm["compiled_cells"] or "none"
        print(f"compile {mode:<4}: wall {arm['wall_s']:.0f} s for {arm['cells']} cells "
              f"(training loops {arm['train_seconds']:.0f} s); compiled: {compiled}")  # fmt: skip
    note = (
        ""
        if arms["auto"]["compiled_cells"]
        else " (auto compiled nothing: not worth it on this device or below break-even, 1.0 by construction)"
    )
    print(f"off / auto wall: {ratio:.2f}x{note}")
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "arms": arms,
                                        "ratio_off_over_auto": ratio}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
