"""Maze recipe study: what makes maze search learnable fast on CPUs (issue 13).

    python benchmarks/maze_recipe.py --stage probe3 [--only NAME ...] [--threads 1]

Each variant is one `learning_check.py` run (same held-out set, decision-point metrics in the
curve); a variant whose JSON exists is skipped, so an interrupted study resumes with the same
command. Results: ``benchmarks/results/recipe/<stage>_<name>_<size>x<size>.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "results" / "recipe"

BASE = ["--model", "L2-D32", "--lr", "3e-3", "--batch-size", "64"]
BAL = ["--train-option", "endpoints=balanced"]  # evaluation stays on uniform endpoints


def depth(n: int, *extra: str) -> list[str]:
    return ["--model-option", f"n_layers={n}", *extra]


# name -> arguments on top of BASE; later arguments win (argparse keeps the last value).
VARIANTS = {
    "base": [],
    "balanced": BAL,
    "bal_lr1e-2": BAL + ["--lr", "1e-2"],
    "bal_lr1e-2_b128": BAL + ["--lr", "1e-2", "--batch-size", "128"],
    "bal_lr1e-2_b32": BAL + ["--lr", "1e-2", "--batch-size", "32"],
    "bal_rotary": BAL + ["--lr", "1e-2", "--model-option", "positional=rotary"],
    "bal_D64": BAL + ["--lr", "1e-2", "--model-option", "d_model=64"],
    "bal_full_loss": BAL + ["--lr", "1e-2", "--loss-mask", "full"],
    "bal_mixed": BAL + ["--lr", "1e-2", "--train-sampling", "uniform"],
    "bal_L4": BAL + ["--lr", "1e-2"] + depth(4),
    "bal_L4_universal": BAL + ["--lr", "1e-2"] + depth(4, "--model-option", "universal=true"),
    "bal_L4_D64": BAL + ["--lr", "1e-2"] + depth(4, "--model-option", "d_model=64"),
}

STAGES = {"probe3": (3, 2.0), "probe4": (4, 4.0), "probe5": (5, 6.0)}  # size, minutes

# Issue 28's recipe study: every run trains until exact >= 0.99 (the stop rule's target) or until its
# held-out loss stops improving (plateau, patience 1: the latest half of training brought nothing),
# with a step cap per maze size; dense evaluations (40) so the stop lands near the crossing.
UNTIL = ["--stop-target", "exact=0.99", "--stop-plateau", "loss:1:0.0005", "--eval-points", "40", "--anatomy"]
GRID = ["--tokenization", "grid"]
RECIPE = {
    "aotp": [],
    "ctt": ["--tokenization", "aotp_ctt"],
    "grid": GRID,
    "grid_L1": GRID + ["--model", "L1-D32"],
    "grid_L4": GRID + ["--model", "L4-D32"],
    "grid_L6": GRID + ["--model", "L6-D32"],
    "grid_D16": GRID + ["--model", "L2-D16"],
    "grid_D64": GRID + ["--model", "L2-D64"],
    "grid_lr1e-3": GRID + ["--lr", "1e-3"],
    "grid_lr1e-2": GRID + ["--lr", "1e-2"],
    "grid_L4_universal": GRID + ["--model", "L4-D32", "--model-option", "universal=true"],
}
RECIPE_STAGES = {"recipe3": (3, 5000), "recipe4": (4, 15000), "recipe5": (5, 30000)}  # size, step cap


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--stage", choices=[*STAGES, *RECIPE_STAGES], required=True)
    p.add_argument("--only", nargs="*", default=None, help="variant names (default: all)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    recipe = args.stage in RECIPE_STAGES
    size, limit = (RECIPE_STAGES if recipe else STAGES)[args.stage]
    variants = RECIPE if recipe else VARIANTS
    for name in args.only or variants:
        label = f"{args.stage}_{name}"
        if (OUT / f"learning_{label}_{size}x{size}.json").exists():
            print(f"{label}: done, skipped")
            continue
        budget = ["--steps", str(limit), *UNTIL] if recipe else ["--minutes", str(limit)]
        cmd = [
            sys.executable,
            str(HERE / "learning_check.py"),
            "--label",
            label,
            "--size",
            str(size),
            "--threads",
            str(args.threads),
            "--out",
            str(OUT),
            *budget,
            *BASE,
            *variants[name],
        ]
        print(" ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
