"""Maze path-finding: generation, solving, AOTP tokenization (maze-dataset compatible), caching.
Other tokenizations of the same mazes (coordinate tuples, a wall-pattern grid): `formats`.

Public API::

    cfg = MazeConfig(grid_n=5, generator="wilson")
    batch = generate(cfg, 1000, np.random.default_rng(0))   # MazeBatch with token ids
    maze = SolvedMaze.from_batch(batch, 0)
    text = to_aotp(maze)                                      # maze-dataset's sorted AOTP string
    parse_aotp(text) == maze
    solve(maze.grid_n, maze.edges, maze.origin, maze.target) == list(maze.path)
    print(render_ascii(maze))
"""

from search_scaling.tasks.maze.batch import MazeBatch, generate, generate_indexed
from search_scaling.tasks.maze.config import GENERATORS, MazeConfig
from search_scaling.tasks.maze.dataset import build_dataset, load_or_build
from search_scaling.tasks.maze.render import render_ascii
from search_scaling.tasks.maze.solve import shortest_paths, solve
from search_scaling.tasks.maze.text import SolvedMaze, parse_aotp, parse_ids, to_aotp
from search_scaling.tasks.maze.tokens import coord_id, vocab_size, vocabulary

__all__ = [
    "GENERATORS", "MazeBatch", "MazeConfig", "SolvedMaze", "build_dataset", "coord_id", "generate",
    "generate_indexed", "load_or_build", "parse_aotp", "parse_ids", "render_ascii", "shortest_paths",
    "solve", "to_aotp", "vocab_size", "vocabulary",
]  # fmt: skip
