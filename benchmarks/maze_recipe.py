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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--stage", choices=list(STAGES), required=True)
    p.add_argument("--only", nargs="*", default=None, help="variant names (default: all)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    size, minutes = STAGES[args.stage]
    for name in args.only or VARIANTS:
        label = f"{args.stage}_{name}"
        if (OUT / f"learning_{label}_{size}x{size}.json").exists():
            print(f"{label}: done, skipped")
            continue
        cmd = [sys.executable, str(HERE / "learning_check.py"), "--label", label, "--size", str(size),
               "--minutes", str(minutes), "--threads", str(args.threads), "--out", str(OUT),
               *BASE, *VARIANTS[name]]  # fmt: skip
        print(" ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
