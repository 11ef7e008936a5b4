"""`search-scaling` command line: thin views over the library's typed entry points."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_CACHE = Path(".cache/datasets")


def _add_maze_args(p: argparse.ArgumentParser) -> None:
    from search_scaling.tasks.maze.config import ADJ_ORDERS, ENDPOINTS, GENERATORS

    p.add_argument("--grid-n", type=int, default=5, help="grid side (2..64)")
    p.add_argument("--generator", choices=GENERATORS, default="dfs")
    p.add_argument("--p", type=float, default=0.0, help="extra-wall opening probability (percolation)")
    p.add_argument("--endpoints", choices=ENDPOINTS, default="any")
    p.add_argument("--min-path-len", type=int, default=1)
    p.add_argument("--adj-order", choices=ADJ_ORDERS, default="shuffled")
    p.add_argument("--n", type=int, default=1000, help="number of mazes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="dataset cache directory")
    p.add_argument("--show", type=int, default=2, help="render this many mazes")


def cmd_maze(args: argparse.Namespace) -> int:
    """Build (or load) a cached maze dataset, then show a few mazes with their AOTP text."""
    from search_scaling.tasks.maze import (
        MazeConfig,
        SolvedMaze,
        load_or_build,
        parse_ids,
        render_ascii,
        to_aotp,
    )
    from search_scaling.tasks.maze.dataset import cache_path

    cfg = MazeConfig(args.grid_n, args.generator, args.p, args.endpoints, args.min_path_len, args.adj_order)
    start = time.perf_counter()
    batch = load_or_build(args.cache, cfg, args.n, args.seed, workers=args.workers)
    took = time.perf_counter() - start
    print(f"{len(batch)} mazes {cfg} in {took:.2f}s ({len(batch) / took:,.0f}/s incl. cache I/O)")
    print(f"cache: {cache_path(args.cache, cfg, args.n, args.seed)}")
    print(f"tokens: {batch.tokens.shape}, mean path {batch.path_len.mean():.1f} cells")
    for i in range(min(args.show, len(batch))):
        maze = SolvedMaze.from_batch(batch, i)
        if parse_ids(batch.tokens[i], cfg.grid_n) != maze:
            raise RuntimeError(f"maze {i}: token ids do not round-trip")
        print(f"\nmaze {i}:\n{render_ascii(maze)}\n{to_aotp(maze)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The most end-to-end path that exists: build cached datasets for several generators and
    sizes, verify every maze round-trips through tokens and the solver, and show examples."""
    from search_scaling.tasks.maze import (
        MazeConfig,
        SolvedMaze,
        load_or_build,
        parse_ids,
        render_ascii,
        solve,
    )

    rng = np.random.default_rng(args.seed)
    for cfg in (MazeConfig(5, "dfs"), MazeConfig(10, "wilson"), MazeConfig(8, "percolation", p=0.1)):
        start = time.perf_counter()
        batch = load_or_build(args.cache, cfg, args.n, args.seed)
        took = time.perf_counter() - start
        for i in rng.choice(len(batch), size=min(200, len(batch)), replace=False):
            maze = SolvedMaze.from_batch(batch, int(i))
            assert parse_ids(batch.tokens[i], cfg.grid_n) == maze
            assert len(solve(cfg.grid_n, maze.edges, maze.origin, maze.target)) == len(maze.path)
        print(f"{cfg.slug():24s} {len(batch):6d} mazes {took:5.2f}s  tokens {batch.tokens.shape}  "
              f"mean path {batch.path_len.mean():.1f}  (200 checked: parse + solve)")  # fmt: skip
    print(f"\nexample ({cfg.slug()}):\n{render_ascii(SolvedMaze.from_batch(batch, 0))}")
    print(f"\ndatasets cached under {args.cache.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="search-scaling", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    maze = sub.add_parser("maze", help="generate, solve, tokenize and show mazes")
    _add_maze_args(maze)
    maze.set_defaults(func=cmd_maze)
    demo = sub.add_parser("demo", help="the end-to-end demo (what `make demo` runs)")
    demo.add_argument("--n", type=int, default=20000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # user-caused errors: one clear line, no traceback
        print(f"search-scaling {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
