"""Learning check: exact-path accuracy on held-out mazes against CPU wall-clock minutes.

    python benchmarks/learning_check.py --size 4 --minutes 10 --label best --model L2-D32 --lr 3e-3

The step budget (which sets the cosine schedule) is fitted to the time limit from a short probe of
this machine's throughput; evaluation time is counted in the wall clock. Writes the curve to
``benchmarks/results/learning_<label>_<size>x<size>.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from search_scaling.training import RunSpec, train_one

PROBE_STEPS = 40


def steps_for(spec: RunSpec, minutes: float, eval_share: float) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        probe = spec.with_(steps=PROBE_STEPS, tokens=None, eval_points=1, eval_examples=8)
        start = time.perf_counter()
        train_one(probe, tmp)
        per_step = (time.perf_counter() - start) / PROBE_STEPS
    return int(minutes * 60 * (1 - eval_share) / per_step)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--label", required=True)
    p.add_argument("--size", type=int, default=4)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--model", default="L2-D32")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--warmup", type=float, default=0.02)
    p.add_argument("--train-sampling", default=None)
    p.add_argument("--loss-mask", default="answer_only")
    p.add_argument("--eval-share", type=float, default=0.08, help="time set aside for evaluation")
    p.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()
    import yaml

    pairs = (o.split("=", 1) for o in args.model_option)
    model_options = {k: yaml.safe_load(v) for k, v in pairs}
    spec = RunSpec(task="maze", size=args.size, model=args.model, lr=args.lr, batch_size=args.batch_size,
                   warmup=args.warmup, train_sampling=args.train_sampling, loss_mask=args.loss_mask,
                   steps=1, eval_points=16, eval_examples=512, model_options=model_options)  # fmt: skip
    spec = spec.with_(steps=steps_for(spec, args.minutes, args.eval_share))
    print(f"{args.label}: {spec.steps} steps fit in {args.minutes} min")
    with tempfile.TemporaryDirectory() as tmp:
        result = train_one(spec, tmp, verbose=True)
    curve = [
        {"minutes": r["wall_time"] / 60, "step": r["step"], "tokens": r["tokens"], "exact": r["value"]}
        for r in result.rows
        if r["split"] == "eval" and r["metric"] == "exact"
    ]
    out = args.out / f"learning_{args.label}_{args.size}x{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"label": args.label, "spec": json.loads(spec.to_json()), "scale": result.scale,
               "final": result.final, "train_seconds": result.train_seconds,
               "tokens_per_s": result.tokens / result.train_seconds, "curve": curve}  # fmt: skip
    out.write_text(json.dumps(summary, indent=1))
    minutes, rate = result.train_seconds / 60, summary["tokens_per_s"]
    print(f"{args.label} {args.size}x{args.size}: exact {result.final['exact']:.3f} after {minutes:.1f} min "
          f"({rate:,.0f} tokens/s) -> {out}")  # fmt: skip


if __name__ == "__main__":
    main()
