"""Square-lattice geometry shared by generators, solver and tokenizer.

Cells are numbered row-major, ``cell = r * n + c``. Directions are indexed
``0 = up (r-1), 1 = left (c-1), 2 = right (c+1), 3 = down (r+1)``; this order is also the
documented tie-break of the solver (see `solve.py`).

Walls follow maze-dataset's ``connection_list`` convention: ``conn[..., 0, r, c]`` is the edge
(r, c)-(r+1, c) ("down") and ``conn[..., 1, r, c]`` the edge (r, c)-(r, c+1) ("right").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DR = np.array([-1, 0, 0, 1])
DC = np.array([0, -1, 1, 0])
OPPOSITE = np.array([3, 2, 1, 0])


@dataclass(frozen=True)
class Lattice:
    """Precomputed tables for an ``n x n`` grid (cached per n; treat arrays as read-only)."""

    n: int
    neighbours: np.ndarray  # int64[N, 4]; -1 where the move leaves the grid
    packed: np.ndarray  # int64[N, 4]; in-grid neighbours first, then -1
    degree: np.ndarray  # int64[N]; number of in-grid neighbours

    @property
    def n_cells(self) -> int:
        return self.n * self.n


@lru_cache(maxsize=64)
def lattice(n: int) -> Lattice:
    r, c = np.divmod(np.arange(n * n), n)
    rr, cc = r[:, None] + DR[None, :], c[:, None] + DC[None, :]
    inside = (rr >= 0) & (rr < n) & (cc >= 0) & (cc < n)
    neighbours = np.where(inside, rr * n + cc, -1)
    order = np.argsort(~inside, axis=1, kind="stable")
    packed = np.take_along_axis(neighbours, order, axis=1)
    for arr in (neighbours, packed):
        arr.setflags(write=False)
    return Lattice(n, neighbours, packed, inside.sum(axis=1))


def conn_from_edges(n: int, a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None):
    """Open walls from cell pairs: a, b int[B, E] (adjacent cells) -> bool[B, 2, n, n]."""
    batch = a.shape[0]
    conn = np.zeros(batch * 2 * n * n, dtype=bool)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    axis = (hi - lo != n).astype(np.int64)  # vertical pairs differ by n cells -> axis 0 ("down")
    flat = (np.arange(batch)[:, None] * 2 + axis) * (n * n) + lo  # index into [B, 2, n*n]
    conn[flat if mask is None else flat[mask]] = True
    return conn.reshape(batch, 2, n, n)


def open_moves(conn: np.ndarray) -> np.ndarray:
    """bool[B, 2, n, n] -> bool[B, N, 4]: whether each cell can move in each direction."""
    batch, _, n, _ = conn.shape
    down, right = conn[:, 0], conn[:, 1]
    moves = np.zeros((batch, n, n, 4), dtype=bool)
    moves[:, 1:, :, 0] = down[:, :-1, :]  # up from (r, c) is down from (r-1, c)
    moves[:, :, 1:, 1] = right[:, :, :-1]
    moves[:, :, :, 2] = right
    moves[:, :, :, 3] = down
    return moves.reshape(batch, n * n, 4)


def is_adjacent(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1
