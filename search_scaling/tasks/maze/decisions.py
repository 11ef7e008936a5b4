"""Decision points on a maze path: where the search happens.

A path cell is a *decision* when the walker has two or more open moves other than the cell it came
from (at the origin: two or more open moves at all); otherwise the next step is a *corridor* step,
a local move any model learns early. The target ends the path and is neither. The token that a
decision determines (the next cell) is a *decision token*; its teacher-forced loss and accuracy
are the part of the loss that carries the search (Ivanitskiy et al. 2023 found
`first_path_choice` to be their models' weakest token type too).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from search_scaling import rng as rs
from search_scaling.tasks.maze.generators import generate_walls
from search_scaling.tasks.maze.lattice import open_moves
from search_scaling.tasks.maze.solve import bfs_from_target

# Codes of `answer_kinds` (and names of the task's token groups: code i + 1 is TOKEN_GROUPS[i]).
NOT_A_STEP, CORRIDOR, DECISION = 0, 1, 2
TOKEN_GROUPS = ("corridor", "decision")


def decision_cells(moves: np.ndarray, paths: np.ndarray, path_len: np.ndarray) -> np.ndarray:
    """Which path cells are decisions: bool[B, L] (False past the last step and at the target).

    moves bool[B, N, 4] open moves per row-major cell; paths int[B, L] cells padded with -1;
    path_len int[B] cells on the path (steps + 1).
    """
    rows = np.arange(len(paths))[:, None]
    exits = moves[rows, np.maximum(paths, 0)].sum(axis=2)  # [B, L] open moves at each path cell
    came_from = (np.arange(paths.shape[1]) > 0)[None, :]  # every cell but the origin has a way back
    is_step = np.arange(paths.shape[1])[None, :] < (path_len - 1)[:, None]
    return is_step & (exits - came_from >= 2)


def count_decisions(moves: np.ndarray, paths: np.ndarray, path_len: np.ndarray) -> np.ndarray:
    """Decisions on each path: int64[B]."""
    return decision_cells(moves, paths, path_len).sum(axis=1)


def answer_kinds(moves: np.ndarray, paths: np.ndarray, path_len: np.ndarray, width: int) -> np.ndarray:
    """Kind of every answer token, by offset from the first answer token: int8[B, width].

    The answer reads ``origin cell_1 ... target <PATH_END>``: offset j + 1 holds cell j + 1, which
    the step out of path cell j decides, so it is a DECISION or CORRIDOR token; the origin (a copy
    from the prompt) and <PATH_END> are NOT_A_STEP. ``width`` >= the longest path + 1.
    """
    decision = decision_cells(moves, paths, path_len)  # [B, L]
    is_step = np.arange(paths.shape[1])[None, :] < (path_len - 1)[:, None]
    kinds = np.zeros((len(paths), width), dtype=np.int8)
    kinds[:, 1 : paths.shape[1] + 1] = np.where(decision, DECISION, np.where(is_step, CORRIDOR, NOT_A_STEP))
    return kinds


def decisions_from(conn: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decisions on the path from each maze's origin to every cell: (dist int32[B, N] steps, -1 where
    unreachable; count int64[B, N]). Paths follow the BFS tree from the origin, which is *the*
    shortest path on a perfect maze; with loops the solver may pick another shortest path, so
    callers that need the exact count re-count on the solved path.
    """
    dist, toward = bfs_from_target(conn, None, origin)  # toward[c]: one step closer to the origin
    batch, n_cells = dist.shape
    exits = open_moves(conn).sum(axis=2)  # [B, N]
    is_origin = np.arange(n_cells)[None, :] == np.asarray(origin)[:, None]
    decision = exits - ~is_origin >= 2  # as a path cell with a way back (origin: without)
    count = np.zeros(batch * n_cells, dtype=np.int64)
    flat_dist, base = dist.reshape(-1), np.repeat(np.arange(batch) * n_cells, n_cells)
    parent = base + toward.reshape(-1)
    order = np.argsort(flat_dist, kind="stable")  # by distance: parents are final before children
    bounds = np.searchsorted(flat_dist[order], np.arange(1, int(dist.max()) + 2))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        at = order[lo:hi]
        count[at] = count[parent[at]] + decision.reshape(-1)[parent[at]]
    count = count.reshape(batch, n_cells)
    return dist, count


# A decision count k is offered by `endpoints: balanced` when a random maze has an (origin, target)
# pair with k decisions at least this often: 64 redraws then fail with probability 0.7^64 ~ 1e-10.
FEASIBLE_SHARE = 0.3
_PROBE_CELLS = 2**18  # mazes x N^2 pairs in the probe set: 128 mazes up to 6x6, 32 from 10x10 on


def pair_decisions(conn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps and decisions for every (origin, target) pair: (dist, count), each int[B, N, N]."""
    batch, n_cells = conn.shape[0], conn.shape[-1] ** 2
    tiled = np.repeat(conn, n_cells, axis=0)  # maze b, origin o -> row b * N + o
    dist, count = decisions_from(tiled, np.tile(np.arange(n_cells), batch))
    return dist.reshape(batch, n_cells, n_cells), count.reshape(batch, n_cells, n_cells)


@lru_cache(maxsize=256)
def feasible_decisions(generator: str, grid_n: int, p: float = 0.0, min_path_len: int = 1) -> tuple[int, int]:
    """The decision counts `endpoints: balanced` can offer: (lo, hi), the first run of counts that a
    random maze holds (for some origin and target at least ``min_path_len`` apart) in at least
    `FEASIBLE_SHARE` of cases. Estimated on a fixed probe set, so the answer is deterministic."""
    key, index = np.uint64(0x5EED), np.arange(int(np.clip(_PROBE_CELLS // grid_n**4, 32, 128)))
    conn = generate_walls(generator, grid_n, rs.stream_keys(key, index, "generate"),
                          rs.stream_keys(key, index, "loops"), p)  # fmt: skip
    dist, count = pair_decisions(conn)
    count = np.where(dist >= min_path_len, count, -1).reshape(len(conn), -1)
    held = np.zeros((len(conn), int(count.max()) + 2), dtype=bool)  # [mazes, k]; column -1: no pair
    held[np.arange(len(conn))[:, None], count] = True
    held = held[:, :-1]
    ok = held.mean(axis=0) >= FEASIBLE_SHARE
    lo = int(np.argmax(ok))
    hi = lo + int(np.argmin(np.append(ok[lo:], False))) - 1
    return lo, hi
