"""Pilot for the goals-under-shift study (issue 32): does the maze recipe learn ``maze_target``?

    OMP_NUM_THREADS=1 python benchmarks/goals_pilot.py --size 3 --steps 3000 --store /tmp/goals/store

One run through the stores (no Ray, no MLflow): the recipe (grid tokens, L2-D32, lr 3e-3, batch 64)
on the standard variant, stopped on held-out reached_nearest >= 0.95 or a loss plateau, scored at
every evaluation on the named sets the study uses (shifted; retarget with 0 and 1 demonstrations).
Prints reached_nearest over steps and the seconds per step (training only, evaluation excluded), and
writes them to ``benchmarks/results/goals_pilot_<size>x<size>.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from search_scaling.store import record_run
from search_scaling.store.recorder import Stores
from search_scaling.training import RunSpec, train_one


def pilot_spec(size: int, steps: int, model: str, proxy_corr: float, positional: str) -> RunSpec:
    evals = [{"name": "shifted", "options": {"variant": "shifted"}}]
    evals += [{"name": f"retarget{k}", "options": {"variant": "retarget", "n_demos": k}} for k in (0, 1)]
    return RunSpec(
        task="maze_target",
        size=size,
        model=model,
        seed=0,
        steps=steps,
        lr=3e-3,
        batch_size=64,
        task_options={"variant": "standard", "tokenization": "grid", "proxy_corr": proxy_corr},
        model_options={} if positional == "learned" else {"positional": positional},
        evals=evals,
        eval_points=12,
        eval_examples=256,
        progress="off",
        compile="off",
        sweep="goals_pilot",
        stop={
            "target": {"metric": "reached_nearest", "value": 0.95},
            "plateau": {"metric": "loss", "patience": 1, "min_delta": 0.0005},
        },
    )


def probe_ms_per_step(spec: RunSpec, steps=(20, 80)) -> float:
    """Training milliseconds per step: the difference of two short runs (start-up and the one
    evaluation cancel), as `learning_check.steps_for` measures it."""
    seconds = []
    for n in steps:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            train_one(spec.with_(steps=n, eval_points=1, eval_examples=8, stop={}), tmp)
            seconds.append(time.perf_counter() - start)
    return 1000 * (seconds[1] - seconds[0]) / (steps[1] - steps[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--model", default="L2-D32")
    parser.add_argument("--proxy-corr", type=float, default=0.9)
    parser.add_argument("--positional", default="learned", choices=("learned", "rotary"))
    parser.add_argument("--store", required=True)
    parser.add_argument("--probe", nargs="*", default=None, help="only time these models (ms per step)")
    args = parser.parse_args()
    if args.probe:
        times = {m: probe_ms_per_step(pilot_spec(args.size, 1, m, args.proxy_corr, args.positional))
                 for m in args.probe}  # fmt: skip
        path = Path(__file__).parent / "results" / f"goals_step_time_{args.size}x{args.size}.json"
        path.write_text(json.dumps({"ms_per_step": times, "size": args.size}, indent=1))
        print(json.dumps(times, indent=1))
        return
    spec = pilot_spec(args.size, args.steps, args.model, args.proxy_corr, args.positional)
    print(
        f"run {spec.run_hash}: n_ctx {spec.model_config.n_ctx}, held-out length "
        f"{spec.task_obj.max_len(args.size)} (max)"
    )
    result = record_run(spec, Stores.resolve(args.store, mlflow=False), verbose=True)
    rows = [
        r for r in result.rows if r["split"] in ("eval", "eval:shifted") and r["metric"] == "reached_nearest"
    ]
    curve = sorted((r["step"], r["split"], round(r["value"], 4)) for r in rows)
    out = {
        "spec": json.loads(spec.to_json()),
        "status": result.status,
        "stop_reason": result.stop_reason,
        "steps": result.steps,
        "train_seconds": result.train_seconds,
        "ms_per_step": 1000 * result.train_seconds / max(result.steps, 1),
        "final": result.final,
        "reached_nearest": curve,
    }
    path = Path(__file__).parent / "results" / f"goals_pilot_{args.size}x{args.size}_{args.positional}.json"
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "spec"}, indent=1))


if __name__ == "__main__":
    main()
