"""Batched, vectorised maze generators.

Every generator takes per-maze stream keys (see `search_scaling.rng`) and returns the open walls
``bool[B, 2, n, n]``. The batch advances in lockstep: one numpy operation moves every maze one step,
so Python overhead is paid per step, not per maze. Randomness is drawn per maze from its own
counter-based stream, so a maze does not depend on which other mazes share its batch.
"""

from __future__ import annotations

import numpy as np

from search_scaling import rng as rs
from search_scaling.tasks.maze.lattice import conn_from_edges, lattice


def dfs(n: int, keys: np.ndarray) -> np.ndarray:
    """Randomized depth-first search (recursive backtracker).

    Start at a uniformly random cell. At each step look at the cell on top of the stack: if it has
    unvisited neighbours, open the wall to one of them (uniformly) and push it; otherwise pop. Every
    maze needs exactly N - 1 pushes, so the batch finishes after at most 2N - 2 steps.
    Produces long, winding corridors with few branches (a spanning tree, biased towards long paths).
    Lockstep trick: a maze that pops writes its step into trash slots, so no step needs a subset.
    """
    lat, batch, n_cells = lattice(n), len(keys), n * n
    rows = np.arange(batch)
    nbrs = np.where(lat.neighbours < 0, n_cells, lat.neighbours)  # off-grid -> sentinel cell N
    visited = np.zeros((batch, n_cells + 1), dtype=bool)
    visited[:, n_cells] = True
    vis, vis_base = visited.reshape(-1), rows[:, None] * (n_cells + 1)
    stack = np.zeros((batch, n_cells + 1), dtype=np.int64)  # last column: trash
    parent = np.zeros((batch, n_cells), dtype=np.int64)  # N - 1 edges + trash column
    child = np.zeros((batch, n_cells), dtype=np.int64)
    start = rs.below(keys, 0, n_cells)
    stack[:, 0], visited[rows, start] = start, True
    depth, pushes = np.ones(batch, dtype=np.int64), np.zeros(batch, dtype=np.int64)
    draws = np.ascontiguousarray(rs.uniform_matrix(keys, 2 * n_cells - 1, offset=1).T)  # [steps, B]
    for step in range(1, 2 * n_cells):
        top = stack[rows, depth - 1]
        cand = nbrs[top]  # [B, 4]
        pattern = (~vis[vis_base + cand]) @ _BITS  # unvisited neighbours as a 4-bit mask
        n_free = _POPCOUNT[pattern]
        pick = (draws[step - 1] * n_free).astype(np.int64)  # uniform in [0, n_free)
        nxt = np.where(n_free > 0, cand[rows, _NTH_BIT[pattern, pick]], n_cells)
        vis[vis_base[:, 0] + nxt] = True
        slot = np.where(n_free > 0, pushes, n_cells - 1)
        parent[rows, slot], child[rows, slot] = top, nxt
        stack[rows, np.where(n_free > 0, depth, n_cells)] = nxt
        pushes += n_free > 0
        depth += np.where(n_free > 0, 1, -1)
        if pushes.min() == n_cells - 1:
            break
    return conn_from_edges(n, parent[:, :-1], child[:, :-1])


_BITS = np.array([1, 2, 4, 8], dtype=np.int64)
_POPCOUNT = np.array([bin(m).count("1") for m in range(16)])
# _NTH_BIT[mask, k] = position of the k-th set bit of mask (0 where it has fewer bits)
_NTH_BIT = np.array([([i for i in range(4) if m >> i & 1] + [0] * 4)[:4] for m in range(16)])


def wilson(n: int, keys: np.ndarray) -> np.ndarray:
    """Wilson's algorithm: a uniform spanning tree (every perfect maze equally likely).

    Put a random root in the tree. Repeatedly take the first cell (row-major) not yet in the tree,
    random-walk from it until the walk hits the tree, remembering only the last exit from each cell
    (this erases loops), then add the loop-erased path to the tree. Lockstep: a maze is either
    walking or retracing its path; both advance one cell per step.
    """
    lat, batch, n_cells = lattice(n), len(keys), n * n
    rows = np.arange(batch)
    in_tree = np.zeros((batch, n_cells), dtype=bool)
    exit_to = np.zeros((batch, n_cells), dtype=np.int64)
    root = rs.below(keys, 0, n_cells)
    in_tree[rows, root] = True
    start = np.argmax(~in_tree, axis=1)
    pos, walking = start.copy(), np.ones(batch, dtype=bool)
    draws = np.ones(batch, dtype=np.int64)
    added = np.ones(batch, dtype=np.int64)
    a, b = np.zeros((batch, n_cells - 1), np.int64), np.zeros((batch, n_cells - 1), np.int64)
    while True:
        live = (added < n_cells).nonzero()[0]
        if live.size == 0:
            break
        w, r = live[walking[live]], live[~walking[live]]
        _walk_step(lat, keys, w, pos, exit_to, draws, in_tree, walking, start)
        _retrace_step(r, pos, exit_to, in_tree, walking, start, added, a, b)
    return conn_from_edges(n, a, b)


def _walk_step(lat, keys, w, pos, exit_to, draws, in_tree, walking, start) -> None:
    here = pos[w]
    k = rs.below(keys[w], draws[w], lat.degree[here])
    nxt = lat.packed[here, k]
    draws[w] += 1
    exit_to[w, here] = nxt
    pos[w] = nxt
    hit = in_tree[w, nxt]
    done = w[hit]
    walking[done] = False
    pos[done] = start[done]  # retrace the loop-erased path from the walk's start


def _retrace_step(r, pos, exit_to, in_tree, walking, start, added, a, b) -> None:
    here = pos[r]
    nxt = exit_to[r, here]
    in_tree[r, here] = True
    a[r, added[r] - 1], b[r, added[r] - 1] = here, nxt
    added[r] += 1
    pos[r] = nxt
    joined = r[in_tree[r, nxt]]
    if joined.size:
        first_free = np.argmax(~in_tree[joined], axis=1)
        start[joined] = first_free
        pos[joined] = first_free
        walking[joined] = True


def kruskal(n: int, keys: np.ndarray) -> np.ndarray:
    """Randomized Kruskal: visit the walls in a random order (one permutation per maze) and open a
    wall when the two cells it separates are not yet connected. Union-find is a component label per
    cell; a merge relabels the smaller label's cells. Gives many short dead ends.
    """
    batch, n_cells = len(keys), n * n
    a, b = _all_walls(n)
    order = np.argsort(rs.uniform_matrix(keys, a.size, offset=1), axis=1)
    ea, eb = a[order], b[order]  # [B, E] walls in each maze's random order
    label = np.broadcast_to(np.arange(n_cells), (batch, n_cells)).copy()
    keep = np.zeros(ea.shape, dtype=bool)
    rows = np.arange(batch)
    for j in range(ea.shape[1]):
        la, lb = label[rows, ea[:, j]], label[rows, eb[:, j]]
        merge = la != lb
        keep[:, j] = merge
        lo, hi = np.minimum(la, lb), np.maximum(la, lb)
        label = np.where(merge[:, None] & (label == hi[:, None]), lo[:, None], label)
        if keep.sum(axis=1).min() == n_cells - 1:
            break
    return conn_from_edges(n, ea, eb, keep)


def percolation(n: int, keys: np.ndarray, loop_keys: np.ndarray, p: float) -> np.ndarray:
    """A DFS maze, then every still-closed interior wall opened independently with probability p.

    p = 0 gives the perfect DFS maze, p = 1 the full grid graph; 0 < p < 1 adds loops, so several
    shortest paths can exist (the solver's tie-break then picks one, see `solve.py`).
    """
    conn = dfs(n, keys)
    a, b = _all_walls(n)
    extra = rs.uniform_matrix(loop_keys, a.size) < p
    return conn | conn_from_edges(n, np.broadcast_to(a, extra.shape), np.broadcast_to(b, extra.shape), extra)


def _all_walls(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every interior wall as a cell pair (a < b), in a fixed order: int[E] each, E = 2n(n-1)."""
    cells = np.arange(n * n).reshape(n, n)
    a = np.concatenate([cells[:-1, :].ravel(), cells[:, :-1].ravel()])
    b = np.concatenate([cells[1:, :].ravel(), cells[:, 1:].ravel()])
    return a, b


def generate_walls(generator: str, n: int, keys: np.ndarray, loop_keys: np.ndarray, p: float):
    """Dispatch by name (see `MazeConfig.generator`)."""
    if generator == "percolation":
        return percolation(n, keys, loop_keys, p)
    return {"dfs": dfs, "wilson": wilson, "kruskal": kruskal}[generator](n, keys)
