"""Learning check: exact-path accuracy on held-out mazes against CPU wall-clock minutes.

    python benchmarks/learning_check.py --size 4 --minutes 10 --label best --model L2-D32 --lr 3e-3 \
        --train-option endpoints=balanced --model-option n_layers=4 --threads 2

Every held-out metric goes into the curve, the decision-point ones included (decision_acc,
corridor_acc, exact_dec_<k>), so a variant's failure can be located.

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

PROBE_STEPS = (20, 80)


def steps_for(spec: RunSpec, minutes: float, eval_share: float) -> int:
    """Steps that fit in ``minutes``: the time per step is the difference of two probe runs, so a
    run's fixed costs (start-up, held-out set, the first evaluation) do not inflate it (a single
    40-step probe overestimated it 3x on 4x4 mazes)."""
    seconds = []
    for steps in PROBE_STEPS:
        with tempfile.TemporaryDirectory() as tmp:
            probe = spec.with_(steps=steps, tokens=None, eval_points=1, eval_examples=8)
            start = time.perf_counter()
            train_one(probe, tmp)
            seconds.append(time.perf_counter() - start)
    per_step = (seconds[1] - seconds[0]) / (PROBE_STEPS[1] - PROBE_STEPS[0])
    return int(minutes * 60 * (1 - eval_share) / per_step)


def failure_anatomy(spec: RunSpec, checkpoint) -> dict:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from maze_failures import anatomy

    return anatomy(spec, checkpoint)


def stop_rule(target: str | None, plateau: str | None) -> dict:
    """The RunSpec ``stop`` field from the two command-line forms."""
    rule = {}
    if target:
        metric, value = target.split("=")
        rule["target"] = {"metric": metric, "value": float(value)}
    if plateau:
        metric, *rest = plateau.split(":")
        rule["plateau"] = {"metric": metric, **dict(zip(("patience", "min_delta"), map(float, rest)))}
    return rule


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
    p.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--train-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task option for training only (evaluation stays on the task as defined)",
    )
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    p.add_argument("--steps", type=int, default=None, help="the step budget (default: fitted to --minutes)")
    p.add_argument("--tokenization", default=None, help="maze tokenization: aotp, aotp_ctt or grid")
    p.add_argument(
        "--stop-target",
        default=None,
        metavar="METRIC=VALUE",
        help="end the run when the held-out METRIC reaches VALUE (a stop rule), e.g. exact=0.99",
    )
    p.add_argument(
        "--stop-plateau",
        default=None,
        metavar="METRIC[:PATIENCE[:MIN_DELTA]]",
        help="end the run when METRIC stops improving (the stop rule's plateau, in log-step)",
    )
    p.add_argument("--eval-points", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--anatomy", action="store_true", help="sort the final model's failures (maze_failures)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = p.parse_args()
    import yaml

    def options(pairs):
        return {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in pairs)}

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    task_options = options(args.task_option)
    if args.tokenization:
        task_options["tokenization"] = args.tokenization
    spec = RunSpec(task="maze", size=args.size, model=args.model, lr=args.lr, batch_size=args.batch_size,
                   warmup=args.warmup, train_sampling=args.train_sampling, loss_mask=args.loss_mask,
                   weight_decay=args.weight_decay, steps=1, eval_points=args.eval_points, eval_examples=512,
                   seed=args.seed, stop=stop_rule(args.stop_target, args.stop_plateau),
                   model_options=options(args.model_option), task_options=task_options,
                   train_options=options(args.train_option))  # fmt: skip
    spec = spec.with_(steps=args.steps or steps_for(spec, args.minutes, args.eval_share))
    print(f"{args.label}: {spec.steps} steps fit in {args.minutes} min")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_one(spec, tmp, verbose=True)
        wall = time.perf_counter() - started
        found = failure_anatomy(spec, result.checkpoint) if args.anatomy else None
    curve = {}
    for r in (r for r in result.rows if r["split"] == "eval"):
        point = curve.setdefault(
            r["step"], {"minutes": r["wall_time"] / 60, "step": r["step"], "tokens": r["tokens"]}
        )
        point[r["metric"]] = r["value"]
    curve = list(curve.values())
    out = args.out / f"learning_{args.label}_{args.size}x{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"label": args.label, "spec": json.loads(spec.to_json()), "scale": result.scale,
               "final": result.final, "train_seconds": result.train_seconds, "wall_seconds": wall,
               "stop_reason": result.stop_reason, "stopped_step": result.steps, "anatomy": found,
               "tokens_per_s": result.tokens / result.train_seconds, "curve": curve}  # fmt: skip
    out.write_text(json.dumps(summary, indent=1))
    minutes, rate = result.train_seconds / 60, summary["tokens_per_s"]
    final = result.final
    strata = " ".join(f"{k[6:]}={v:.2f}" for k, v in sorted(final.items()) if k.startswith("exact_dec_"))
    print(f"{args.label} {args.size}x{args.size}: exact {final['exact']:.3f} after {minutes:.1f} min "
          f"(wall {wall / 60:.1f} min, stopped at step {result.steps}: {result.stop_reason}) "
          f"({rate:,.0f} tokens/s); decision_acc {final['decision_acc']:.3f} corridor_acc "
          f"{final['corridor_acc']:.3f} first_step {final['first_step']:.3f}; exact by decisions {strata} "
          f"{'' if found is None else found} "
          f"-> {out}")  # fmt: skip


if __name__ == "__main__":
    main()
