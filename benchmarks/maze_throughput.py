"""Maze throughput: mazes/s for (a) generation and (b) generation + solving + tokenization to ids.

    .venv/bin/python benchmarks/maze_throughput.py                 # ours only
    make bench-maze                                                # also maze-dataset 1.4.2, same run

Single process. With ``--compare-maze-dataset PYTHON`` each row also times maze-dataset in its own
virtualenv (PYTHON is that venv's interpreter) right after ours, and prints our/their ratio.
maze-dataset's (b) is `MazeDataset.from_config` (generate + endpoints + solve, gen_parallel=False)
followed by `tokenizer.encode(maze.as_tokens(tokenizer))` with the legacy AOTP_UT_uniform tokenizer.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time

import numpy as np

from search_scaling import rng as rs
from search_scaling.tasks.maze import MazeConfig, generate
from search_scaling.tasks.maze.generators import generate_walls

ROWS = [(gen, n) for gen in ("dfs", "wilson") for n in (5, 10, 20)]

THEIRS = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from maze_dataset import LatticeMazeGenerators, MazeDataset, MazeDatasetConfig
from maze_dataset.tokenization import MazeTokenizer, TokenizationMode
gen, n, budget = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ctor = {"dfs": LatticeMazeGenerators.gen_dfs, "wilson": LatticeMazeGenerators.gen_wilson}[gen]
tok = MazeTokenizer(tokenization_mode=TokenizationMode.AOTP_UT_uniform, max_grid_size=n)
def rate(fn):
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget:
        count += fn()
    return count / (time.perf_counter() - start)
def gen_only():
    ctor((n, n)); return 1
def full():
    cfg = MazeDatasetConfig(name="bench", grid_n=n, n_mazes=16, maze_ctor=ctor)
    ds = MazeDataset.from_config(cfg, load_local=False, do_download=False, save_local=False,
                                 do_generate=True, gen_parallel=False, verbose=False)
    for m in ds:
        tok.encode(m.as_tokens(tok))
    return len(ds)
print(json.dumps({"generate": rate(gen_only), "full": rate(full)}))
"""


def ours(gen: str, n: int, count: int, repeats: int) -> dict[str, float]:
    cfg = MazeConfig(n, gen)
    keys = rs.stream_keys(np.uint64(1), np.arange(count), "generate")

    def gen_only() -> None:
        for i in range(0, count, 4096):
            generate_walls(gen, n, keys[i : i + 4096], keys[i : i + 4096], 0.0)

    def full() -> None:
        generate(cfg, count, np.random.default_rng(0))

    return {name: count / _median_time(fn, repeats) for name, fn in (("generate", gen_only), ("full", full))}


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def theirs(python: str, gen: str, n: int, budget: float) -> dict[str, float]:
    out = subprocess.run(
        [python, "-c", THEIRS, gen, str(n), str(budget)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--compare-maze-dataset", metavar="PYTHON", help="interpreter of a maze-dataset venv")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=4.0, help="seconds per maze-dataset measurement")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {platform.python_version()}, single process")
    head = "| generator | grid | ours gen/s | ours gen+solve+tok/s |"
    if args.compare_maze_dataset:
        head += " maze-dataset gen/s | maze-dataset gen+solve+tok/s | ratio gen | ratio full |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for gen, n in ROWS:
        count = 20000 if n <= 10 else 4000
        mine = ours(gen, n, count, args.repeats)
        line = f"| {gen} | {n}x{n} | {mine['generate']:,.0f} | {mine['full']:,.0f} |"
        if args.compare_maze_dataset:
            ref = theirs(args.compare_maze_dataset, gen, n, args.budget)
            cells = [f"{ref[k]:,.1f}" for k in ref] + [f"{mine[k] / ref[k]:,.0f}x" for k in ref]
            line += " " + " | ".join(cells) + " |"
        print(line, flush=True)


if __name__ == "__main__":
    main()
