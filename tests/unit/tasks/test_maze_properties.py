"""Property tests of the maze generators and solver (hypothesis)."""

from collections import deque

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from search_scaling.tasks.maze import MazeConfig, SolvedMaze, generate, parse_aotp, parse_ids, to_aotp
from search_scaling.tasks.maze.lattice import open_moves

TREES = ("dfs", "wilson", "kruskal")
configs = st.builds(
    lambda n, gen, p, order: MazeConfig(n, gen, p if gen == "percolation" else 0.0, adj_order=order),
    st.integers(2, 12),
    st.sampled_from(TREES + ("percolation",)),
    st.floats(0.0, 1.0),
    st.sampled_from(("shuffled", "sorted")),
)


def bfs_distances(maze: SolvedMaze, source) -> dict:
    adj = {}
    for a, b in maze.edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    dist, queue = {source: 0}, deque([source])
    while queue:
        cell = queue.popleft()
        for nxt in adj.get(cell, []):
            if nxt not in dist:
                dist[nxt] = dist[cell] + 1
                queue.append(nxt)
    return dist


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 16), gen=st.sampled_from(TREES), seed=st.integers(0, 2**32))
def test_perfect_mazes_are_spanning_trees(n, gen, seed):
    batch = generate(MazeConfig(n, gen), 8, np.random.default_rng(seed))
    for i in range(len(batch)):
        maze = SolvedMaze.from_batch(batch, i)
        assert len(maze.edges) == n * n - 1
        assert len(bfs_distances(maze, (0, 0))) == n * n  # connected + N-1 edges = spanning tree


@settings(max_examples=60, deadline=None)
@given(cfg=configs, seed=st.integers(0, 2**32))
def test_paths_are_valid_shortest_paths(cfg, seed):
    batch = generate(cfg, 6, np.random.default_rng(seed))
    for i in range(len(batch)):
        maze = SolvedMaze.from_batch(batch, i)
        edges = set(maze.edges)
        assert maze.path[0] == maze.origin and maze.path[-1] == maze.target
        assert maze.origin != maze.target
        for a, b in zip(maze.path, maze.path[1:]):
            assert tuple(sorted((a, b))) in edges
        assert len(maze.path) - 1 == bfs_distances(maze, maze.origin)[maze.target]


@settings(max_examples=60, deadline=None)
@given(cfg=configs, seed=st.integers(0, 2**32))
def test_tokens_maze_tokens_round_trip(cfg, seed):
    batch = generate(cfg, 4, np.random.default_rng(seed))
    for i in range(len(batch)):
        maze = SolvedMaze.from_batch(batch, i)
        assert parse_ids(batch.tokens[i], cfg.grid_n) == maze
        text = to_aotp(maze)
        assert parse_aotp(text) == maze and to_aotp(parse_aotp(text)) == text
        shuffled = to_aotp(maze, shuffle=True, rng=np.random.default_rng(seed))
        assert parse_aotp(shuffled) == maze


def test_wilson_is_uniform_on_2x2():
    """A 2x2 grid has 4 spanning trees (drop one of the 4 walls); Wilson must hit each ~1/4."""
    batch = generate(MazeConfig(2, "wilson"), 8000, np.random.default_rng(0))
    walls = batch.conn.reshape(len(batch), -1)[:, [0, 1, 4, 6]]  # the 4 possible edges
    dropped = np.argmin(walls, axis=1)
    freq = np.bincount(dropped, minlength=4) / len(batch)
    assert np.all(np.abs(freq - 0.25) < 0.02), freq


def test_deadend_endpoints_and_min_path_len():
    cfg = MazeConfig(6, "dfs", endpoints="deadends", min_path_len=6)
    batch = generate(cfg, 200, np.random.default_rng(3))
    degree = open_moves(batch.conn).sum(axis=2)
    rows = np.arange(len(batch))
    assert np.all(degree[rows, batch.origin] == 1) and np.all(degree[rows, batch.target] == 1)
    assert np.all(batch.path_len - 1 >= 6)


def test_percolation_adds_loops():
    batch = generate(MazeConfig(8, "percolation", p=0.3), 50, np.random.default_rng(0))
    assert np.all(batch.conn.sum(axis=(1, 2, 3)) > 63)


def test_no_mazes_give_no_paths():
    """A rejection round of maze_target can keep none of its candidates: solving zero mazes is an
    empty answer, not a crash (it once failed every anti_target cell of the goals study)."""
    from search_scaling.tasks.maze import shortest_paths

    conn = generate(MazeConfig(3, "dfs"), 1, np.random.default_rng(0)).conn[:0]
    paths, length = shortest_paths(conn, np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert paths.shape == (0, 1) and length.shape == (0,)
