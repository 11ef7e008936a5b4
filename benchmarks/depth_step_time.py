"""Training step time by depth, width and maze size: what sizes the maze_depth study (issue 29).

    python benchmarks/depth_step_time.py [--depths 1,2,4,6,8] [--widths 16,32] [--sizes 3,4,5]
                                         [--steps 60] [--out results/depth_step_time.json]

Times `train_one`'s Lightning loop with the recipe's grid tokenization (batch 64, one thread as a
sweep worker has), after a warm-up, evaluation outside the window; prints ms per step per shape.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from training_overhead import WARMUP, lightning_seconds  # noqa: E402

from search_scaling.training import RunSpec  # noqa: E402


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=ints, default=[1, 2, 4, 6, 8])
    parser.add_argument("--widths", type=ints, default=[16, 32])
    parser.add_argument("--sizes", type=ints, default=[3, 4, 5])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        for width in args.widths:
            for depth in args.depths:
                spec = RunSpec(task="maze", size=size, model=f"L{depth}-D{width}",
                               steps=WARMUP + args.steps, batch_size=64, eval_points=1,
                               eval_examples=16, progress="off",
                               task_options={"tokenization": "grid"})  # fmt: skip
                ms = 1000 * lightning_seconds(spec) / args.steps
                rows.append({"size": size, "model": spec.model, "ms_per_step": ms})
                print(f"{size}x{size}  {spec.model:<7}  {ms:6.1f} ms/step", flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
