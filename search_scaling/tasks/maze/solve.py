"""Batched shortest paths by breadth-first search.

Tie-break rule (matters only on mazes with loops, where several shortest paths exist): BFS labels
every cell with its distance to the target; the path starts at the origin and each step moves to
the first neighbour, in the order up, left, right, down, that is one step closer to the target.
On perfect mazes (trees) the path is unique, so the rule never applies and the path is read off
the BFS parent pointers instead (cheaper, same answer).
"""

from __future__ import annotations

import numpy as np

from search_scaling.tasks.maze.lattice import conn_from_edges, lattice, open_moves


def bfs_from_target(conn: np.ndarray, origin: np.ndarray | None, target: np.ndarray):
    """BFS towards each maze's target: (dist int32[B, N] with -1 = not reached, toward int64[B, N]
    = the neighbour one step closer to the target, the target pointing at itself).

    The frontier is a sparse list of flat (maze, cell) indices, so the work is proportional to the
    cells visited; a maze leaves the frontier once its origin is labelled (``origin=None``: never,
    so every reachable cell gets its distance).
    """
    batch, _, n, _ = conn.shape
    n_cells = n * n
    moves, nbrs = open_moves(conn).reshape(-1, 4), lattice(n).neighbours
    dist = np.full(batch * n_cells, -1, dtype=np.int32)
    toward = np.zeros(batch * n_cells, dtype=np.int64)
    base = np.arange(batch) * n_cells
    front = base + target
    dist[front], toward[front] = 0, target
    goal = base + (np.asarray(target) if origin is None else origin)
    # In a tree every cell is discovered once; with loops two frontier cells can find the same one.
    has_loops = int(conn.sum()) > batch * (n_cells - 1)
    step = 0
    while front.size:
        step += 1
        ok = moves[front]  # [F, 4]
        cell = front % n_cells
        found = (front - cell)[:, None] + nbrs[cell]  # flat neighbour indices (junk where not ok)
        src, found = np.broadcast_to(cell[:, None], ok.shape)[ok], found[ok]
        new = dist[found] < 0
        src, found = src[new], found[new]
        if has_loops:
            found, first = np.unique(found, return_index=True)
            src = src[first]
        dist[found], toward[found] = step, src
        front = found if origin is None else found[dist[goal[found // n_cells]] < 0]
    return dist.reshape(batch, n_cells), toward.reshape(batch, n_cells)


def distances_to_target(conn: np.ndarray, origin: np.ndarray, target: np.ndarray) -> np.ndarray:
    """BFS distance (in steps) of every cell to the target: int32[B, N], -1 where not reached."""
    return bfs_from_target(conn, origin, target)[0]


def shortest_paths(conn: np.ndarray, origin: np.ndarray, target: np.ndarray):
    """Shortest origin -> target path per maze: (paths int64[B, Lmax] padded with -1, lengths int[B]).

    Lengths count cells, so a path of k steps has k + 1 cells. Raises ValueError if some target is
    unreachable from its origin. No mazes give paths of shape [0, 1] (a rejection round of
    maze_target can keep none of its candidates).
    """
    origin, target = np.asarray(origin), np.asarray(target)
    dist, toward = bfs_from_target(conn, origin, target)
    rows = np.arange(len(origin))
    steps = dist[rows, origin]
    if np.any(steps < 0):
        raise ValueError(f"maze {int(np.argmax(steps < 0))}: target is not reachable from origin")
    n_cells = dist.shape[1]
    has_loops = int(conn.sum()) > len(origin) * (n_cells - 1)
    walk = _tie_broken_walk(conn, dist, steps) if has_loops else _follow(toward, steps)
    paths = np.empty((len(origin), int(steps.max(initial=0)) + 1), dtype=np.int64)
    here = origin.copy()
    for k in range(paths.shape[1]):
        paths[:, k] = here
        here = walk(here, k + 1)
    paths[np.arange(paths.shape[1])[None, :] > steps[:, None]] = -1
    return paths, steps + 1


def _follow(toward: np.ndarray, steps: np.ndarray):
    """Trees: step along the BFS pointer (the target points at itself, so rows that arrived stay)."""
    flat, base = toward.reshape(-1), np.arange(len(steps)) * toward.shape[1]
    return lambda here, k: flat[base + here]


def _tie_broken_walk(conn: np.ndarray, dist: np.ndarray, steps: np.ndarray):
    """Loops: the first neighbour (up, left, right, down) one step closer to the target."""
    moves, nbrs = open_moves(conn), lattice(conn.shape[-1]).neighbours
    rows = np.arange(len(steps))

    def walk(here: np.ndarray, k: int) -> np.ndarray:
        cand = nbrs[here]  # [B, 4]
        closer = moves[rows, here] & (dist[rows[:, None], np.maximum(cand, 0)] == (steps - k)[:, None])
        nxt = cand[rows, np.argmax(closer, axis=1)]
        return np.where(steps >= k, nxt, here)

    return walk


def solve(grid_n: int, edges, origin, target) -> list[tuple[int, int]]:
    """Shortest path from origin to target as a list of (row, col), endpoints included.

    ``edges``: iterable of ((r, c), (r, c)) open connections between adjacent cells.
    """
    edge_list = [tuple(map(tuple, e)) for e in edges]
    for u, v in edge_list:
        if abs(u[0] - v[0]) + abs(u[1] - v[1]) != 1 or not all(0 <= x < grid_n for x in (*u, *v)):
            raise ValueError(f"edge {u}-{v} does not join two adjacent cells of a {grid_n}x{grid_n} grid")
    for name, cell in (("origin", origin), ("target", target)):
        if not all(0 <= x < grid_n for x in cell):
            raise ValueError(f"{name} {tuple(cell)} is outside the {grid_n}x{grid_n} grid")
    a = np.array([u[0] * grid_n + u[1] for u, _ in edge_list], dtype=np.int64).reshape(1, -1)
    b = np.array([v[0] * grid_n + v[1] for _, v in edge_list], dtype=np.int64).reshape(1, -1)
    conn = conn_from_edges(grid_n, a, b)
    o, t = origin[0] * grid_n + origin[1], target[0] * grid_n + target[1]
    paths, length = shortest_paths(conn, np.array([o]), np.array([t]))
    return [tuple(int(x) for x in divmod(int(cell), grid_n)) for cell in paths[0, : length[0]]]
