"""`search-scaling maze`: build (or load) a maze dataset and show some of its mazes."""

from __future__ import annotations

import argparse
import time


def cmd_maze(args: argparse.Namespace) -> int:
    """Build (or load) a cached maze dataset, then show a few mazes with their AOTP text: the tokens
    as generated, so the adjacency list is in the order the config says (shuffled by default)."""
    from search_scaling.tasks.maze import (
        MazeConfig,
        SolvedMaze,
        load_or_build,
        parse_ids,
        render_ascii,
    )
    from search_scaling.tasks.maze.dataset import cache_path
    from search_scaling.tasks.maze.tokens import ids_to_text

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
        print(f"\nmaze {i}:\n{render_ascii(maze)}\n{ids_to_text(batch.tokens[i], cfg.grid_n)}")
    return 0
