"""Solved, tokenized maze batches: generation -> endpoints -> BFS -> token ids.

`generate(config, n, rng)` is the public entry point: a pure function of the config and the
caller's generator. Internally maze ``i`` depends only on (config, key, i) (see `search_scaling.rng`),
which is what makes datasets byte-identical for any batch size or number of worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search_scaling import rng as rs
from search_scaling.tasks.maze.config import MazeConfig
from search_scaling.tasks.maze.decisions import count_decisions, pair_decisions
from search_scaling.tasks.maze.generators import generate_walls
from search_scaling.tasks.maze.lattice import open_moves
from search_scaling.tasks.maze.solve import distances_to_target, shortest_paths
from search_scaling.tasks.maze.tokens import PAD, encode_batch

MAX_ATTEMPTS = 64  # redraws (maze + endpoints) per example before a config is declared infeasible
_ATTEMPT_STRIDE = np.uint64(1 << 40)  # attempt j of example i uses stream index i + j * stride


@dataclass(frozen=True)
class MazeBatch:
    """A batch of solved mazes. Cells are row-major indices (``r * grid_n + c``).

    conn: bool[B, 2, n, n] open walls (maze-dataset's connection_list layout)
    origin, target: int64[B] cells; paths: int64[B, L] cells padded with -1; path_len: int64[B]
    tokens: int32[B, T] AOTP token ids right-padded with <PADDING>
    """

    config: MazeConfig
    conn: np.ndarray
    origin: np.ndarray
    target: np.ndarray
    paths: np.ndarray
    path_len: np.ndarray
    tokens: np.ndarray

    def __len__(self) -> int:
        return len(self.origin)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("conn", "origin", "target", "paths", "path_len", "tokens")}


def generate(config: MazeConfig, n: int, rng: np.random.Generator, batch_size: int = 4096) -> MazeBatch:
    """``n`` solved mazes from ``config``; consumes one 64-bit key from ``rng``."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"number of mazes must be a positive integer, got {n!r}")
    return generate_indexed(config, rs.draw_key(rng), np.arange(n), batch_size)


def generate_indexed(config: MazeConfig, key, indices: np.ndarray, batch_size: int = 4096) -> MazeBatch:
    """Mazes number ``indices`` of the stream ``key``; processed ``batch_size`` at a time."""
    chunks = [
        _generate_chunk(config, np.uint64(key), indices[i : i + batch_size])
        for i in range(0, len(indices), batch_size)
    ]
    return concat(chunks)


def _generate_chunk(config: MazeConfig, key: np.uint64, indices: np.ndarray) -> MazeBatch:
    """Example i takes the first of its attempts 0, 1, 2, ... whose maze and endpoints satisfy the
    config. Later rounds try several attempts of each remaining example at once (same answer as
    one at a time, fewer rounds: balanced endpoints reject often)."""
    conn = origin = target = None
    todo, first = np.arange(len(indices)), 0
    while todo.size and first < MAX_ATTEMPTS:
        width = 1 if first == 0 else min(8, MAX_ATTEMPTS - first)
        tries = np.repeat(todo, width)  # [len(todo) * width]: example, attempt first..first+width-1
        attempt = np.tile(np.arange(first, first + width, dtype=np.uint64), len(todo))
        c, o, t, ok = _attempt(config, key, np.asarray(indices, np.uint64)[tries], attempt)
        ok = ok.reshape(len(todo), width)
        pick = np.arange(len(todo)) * width + np.argmax(ok, axis=1)  # the first success (or attempt 0)
        conn, origin, target = _merge(conn, origin, target, todo, c[pick], o[pick], t[pick], len(indices))
        todo, first = todo[~ok.any(axis=1)], first + width
    if todo.size:
        raise ValueError(
            f"{config}: {todo.size} of {len(indices)} mazes had no valid endpoints after {MAX_ATTEMPTS} "
            f"redraws; lower min_path_len or max_decisions, or use endpoints='any'"
        )
    paths, path_len = shortest_paths(conn, origin, target)
    shuffle = rs.stream_keys(key, indices, "shuffle") if config.adj_order == "shuffled" else None
    tokens = encode_batch(conn, origin, target, paths, path_len, shuffle)
    return MazeBatch(config, conn, origin, target, paths, path_len, tokens)


def _attempt(config: MazeConfig, key: np.uint64, index: np.ndarray, attempt: np.ndarray):
    """Maze and endpoints of attempt ``attempt`` of examples ``index`` (uint64 arrays)."""
    stream = index + attempt * _ATTEMPT_STRIDE
    c = generate_walls(config.generator, config.grid_n, rs.stream_keys(key, stream, "generate"),
                       rs.stream_keys(key, stream, "loops"), config.p)  # fmt: skip
    keys = rs.stream_keys(key, stream, "endpoints")
    if config.endpoints == "balanced":
        wanted = _wanted_decisions(config, rs.stream_keys(key, index, "decisions"))
        return c, *_balanced_endpoints(config, c, keys, wanted)
    return c, *_endpoints(config, c, keys)


def _merge(conn, origin, target, rows, c, o, t, size):
    if conn is None:
        conn = np.zeros((size, *c.shape[1:]), dtype=bool)
        origin, target = np.zeros(size, np.int64), np.zeros(size, np.int64)
    conn[rows], origin[rows], target[rows] = c, o, t
    return conn, origin, target


def _endpoints(config: MazeConfig, conn: np.ndarray, keys: np.ndarray):
    """Two distinct cells per maze (uniform among all cells, or among dead ends) and whether they
    satisfy the config. Mazes here are connected, so "the connected component" is the whole grid.
    """
    n_cells = config.n_cells
    if config.endpoints == "deadends":
        allowed = open_moves(conn).sum(axis=2) == 1  # [B, N]
    else:
        allowed = np.ones((len(keys), n_cells), dtype=bool)
    count = allowed.sum(axis=1)
    first = rs.below(keys, 0, np.maximum(count, 1))
    second = rs.below(keys, 1, np.maximum(count - 1, 1))
    second = second + (second >= first)  # distinct: skip over the first pick
    rank = np.cumsum(allowed, axis=1)
    origin = np.argmax(rank > first[:, None], axis=1)
    target = np.argmax(rank > second[:, None], axis=1)
    ok = count >= 2
    if config.min_path_len > 1:
        ok &= _steps_between(conn, origin, target) >= config.min_path_len
    return origin, target, ok


def _wanted_decisions(config: MazeConfig, keys: np.ndarray) -> np.ndarray:
    """The decision count each example must have, uniform over the config's range. Drawn from a
    stream without the attempt number, so a redraw keeps the count (no bias toward easy counts)."""
    lo, hi = config.decision_range()
    return lo + rs.below(keys, 0, np.full(len(keys), hi - lo + 1))


def _balanced_endpoints(config: MazeConfig, conn: np.ndarray, keys: np.ndarray, wanted: np.ndarray):
    """A uniform (origin, target) pair among those with ``wanted`` decisions on their path; ``ok``
    is False where the maze has none (the caller redraws the maze). With loops the count is
    re-checked on the solver's path, which may differ from the BFS tree's."""
    dist, count = pair_decisions(conn)  # [B, N, N] each
    n_cells = config.n_cells
    match = ((count == wanted[:, None, None]) & (dist >= config.min_path_len)).reshape(len(conn), -1)
    total = match.sum(axis=1)
    pick = rs.below(keys, 0, np.maximum(total, 1))
    flat = np.argmax(np.cumsum(match, axis=1) > pick[:, None], axis=1)
    origin, target = np.divmod(flat, n_cells)
    ok = total > 0
    if config.generator == "percolation" and ok.any():
        paths, path_len = shortest_paths(conn[ok], origin[ok], target[ok])
        ok[ok] = count_decisions(open_moves(conn[ok]), paths, path_len) == wanted[ok]
    return origin, target, ok


def _steps_between(conn, origin, target) -> np.ndarray:
    dist = distances_to_target(conn, origin, target)
    return dist[np.arange(len(origin)), origin]


def mazes_to_batch(mazes: list, config: MazeConfig | None = None) -> MazeBatch:
    """Given solved mazes (`SolvedMaze`, one grid size) as a `MazeBatch` with sorted AOTP tokens;
    ``config`` defaults to the grid size's default distribution (it only names the grid here)."""
    from search_scaling.tasks.maze.lattice import conn_from_edges

    n = mazes[0].grid_n
    if any(m.grid_n != n for m in mazes):
        raise ValueError("mazes_to_batch: every maze must have the same grid_n")
    cell = lambda rc: rc[0] * n + rc[1]  # noqa: E731
    conn = np.concatenate([conn_from_edges(n, np.array([[cell(a) for a, _ in m.edges]]).reshape(1, -1),
                                           np.array([[cell(b) for _, b in m.edges]]).reshape(1, -1))
                           for m in mazes])  # fmt: skip
    path_len = np.array([len(m.path) for m in mazes])
    paths = np.full((len(mazes), int(path_len.max())), -1, dtype=np.int64)
    for i, m in enumerate(mazes):
        paths[i, : len(m.path)] = [cell(p) for p in m.path]
    origin = np.array([cell(m.origin) for m in mazes])
    target = np.array([cell(m.target) for m in mazes])
    tokens = encode_batch(conn, origin, target, paths, path_len, None)
    return MazeBatch(config or MazeConfig(grid_n=n), conn, origin, target, paths, path_len, tokens)


def concat(batches: list[MazeBatch]) -> MazeBatch:
    """Join batches of one config, padding paths (-1) and tokens (<PADDING>) to a common width."""
    if len(batches) == 1:
        return batches[0]
    return MazeBatch(
        batches[0].config,
        np.concatenate([b.conn for b in batches]),
        np.concatenate([b.origin for b in batches]),
        np.concatenate([b.target for b in batches]),
        _pad_cat([b.paths for b in batches], -1),
        np.concatenate([b.path_len for b in batches]),
        _pad_cat([b.tokens for b in batches], PAD),
    )


def _pad_cat(arrays: list[np.ndarray], fill) -> np.ndarray:
    out = np.full((sum(len(a) for a in arrays), max(a.shape[1] for a in arrays)), fill, dtype=arrays[0].dtype)
    row = 0
    for a in arrays:
        out[row : row + len(a), : a.shape[1]] = a
        row += len(a)
    return out
