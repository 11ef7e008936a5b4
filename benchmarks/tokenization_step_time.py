"""Training step time per maze tokenization (issue 28): a shorter prompt makes each step cheaper.

    python benchmarks/tokenization_step_time.py [--model L2-D32] [--size 4] [--steps 200] [--reps 3]

Times `train_one`'s Lightning loop (batches generated on the fly, as in a run) after a warm-up of
WARMUP steps, evaluation reduced to the two ends and outside the window; the tokenizations are
interleaved rep by rep so machine noise hits each alike. Prints the median seconds per step and the
mean tokens per example (prompt and answer) of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from training_overhead import WARMUP, lightning_seconds  # noqa: E402

from search_scaling.training import RunSpec  # noqa: E402
from search_scaling.training.data import eval_batch  # noqa: E402

TOKENIZATIONS = ("aotp", "aotp_ctt", "grid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="L2-D32")
    parser.add_argument("--size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    specs = {t: RunSpec(task="maze", size=args.size, model=args.model, steps=WARMUP + args.steps,
                        batch_size=args.batch_size, eval_points=1, eval_examples=16, progress="off",
                        task_options={"tokenization": t}) for t in TOKENIZATIONS}  # fmt: skip
    seconds: dict[str, list[float]] = {t: [] for t in TOKENIZATIONS}
    for _ in range(args.reps):
        for t, spec in specs.items():
            seconds[t].append(lightning_seconds(spec) / args.steps)
    shape = f"{args.size}x{args.size}, {args.steps} steps x {args.reps} reps"
    print(f"{args.model} batch {args.batch_size}, {shape}")
    print("tokenization  tokens/example  prompt  ms/step (median; all reps)")
    for t, spec in specs.items():
        held = eval_batch(spec.task_obj, spec.size, 2000, spec.eval_seed)
        reps = ", ".join(f"{1000 * s:.1f}" for s in seconds[t])
        print(f"{t:<12}  {held.length.mean():>14.1f}  {held.prompt_len.mean():>6.1f}  "
              f"{1000 * statistics.median(seconds[t]):>7.1f}  ({reps})")  # fmt: skip


if __name__ == "__main__":
    main()
