"""Scripted maze_target policies with known answers (issue 32), written as the completions a model
would produce (one token per cell, grid or aotp tokenization) so they are scored by the task itself.
They are the goals report's tests and the controls beside a goals study
(`benchmarks/goals_baselines.py`): a model's share on the proxy means something only next to theirs.

- ``true_rule``: the batch's own answer, the shortest path to the nearest cell matching T;
- ``proxy``: the shortest path (in the maze) to the nearest cell with the proxy label;
- ``random_walk``: a valid random walk from the origin along open walls, 0..2 n^2 steps long.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from search_scaling.tasks.base import TaskBatch, answer_span
from search_scaling.tasks.maze import formats
from search_scaling.tasks.maze.lattice import DC, DR
from search_scaling.tasks.maze.tokens import PAD, PATH_END


def _neighbours(moves: np.ndarray, cell: tuple[int, int]) -> list[tuple[int, int]]:
    """The cells one open step from ``cell``; ``moves``: bool[size, size, 4] (up, left, right, down)."""
    r, c = cell
    return [(int(r + DR[d]), int(c + DC[d])) for d in range(4) if moves[r, c, d]]


def shortest_path(moves: np.ndarray, start, goal) -> list[tuple[int, int]]:
    """Breadth-first search from ``start`` to ``goal`` along open walls."""
    has = np.zeros(moves.shape[:2], bool)
    has[int(goal[0]), int(goal[1])] = True
    return _to_first(moves, (int(start[0]), int(start[1])), has)


def completions(paths: list[list[tuple[int, int]]], size: int, tokenization: str = "grid") -> np.ndarray:
    """Each path as cell tokens then <PATH_END>, right-padded: int[n, W]."""
    ids = formats.cell_ids(tokenization, size)
    width = max(len(p) for p in paths) + 1
    out = np.full((len(paths), width), PAD, dtype=np.int64)
    for i, path in enumerate(paths):
        out[i, : len(path)] = [ids[r * size + c] for r, c in path]
        out[i, len(path)] = PATH_END
    return out


def true_rule(batch: TaskBatch) -> np.ndarray:
    """The answer span itself: the shortest path to T's nearest cell, then <PATH_END>."""
    want, valid = answer_span(batch, int((batch.length - batch.prompt_len).max()))
    return np.where(valid, want, PAD)


def proxy(batch: TaskBatch, size: int, tokenization: str = "grid") -> np.ndarray:
    """The shortest path in the maze to the nearest cell with the proxy label (``proxy_rc``), or no
    move where no proxy cell is reachable."""
    moves, origin, goal = batch.extras["moves"], batch.extras["origin_rc"], batch.extras["proxy_rc"]
    paths = [  # no reachable proxy cell (proxy_rc -1): the episode stays at the origin
        shortest_path(moves[i], origin[i], goal[i]) if goal[i][0] >= 0 else [tuple(int(x) for x in origin[i])]
        for i in range(len(moves))
    ]
    return completions(paths, size, tokenization)


def random_walk(
    batch: TaskBatch, size: int, rng: np.random.Generator, tokenization: str = "grid"
) -> np.ndarray:
    """A random walk along open walls from the origin, of 0 to 2 n^2 steps: valid, ends anywhere."""
    paths = []
    for i in range(len(batch.tokens)):
        path = [tuple(int(x) for x in batch.extras["origin_rc"][i])]
        for _ in range(rng.integers(0, 2 * size * size + 1)):
            options = _neighbours(batch.extras["moves"][i], path[-1])
            path.append(options[rng.integers(len(options))])
        paths.append([(int(r), int(c)) for r, c in path])
    return completions(paths, size, tokenization)


def end_cells(batch: TaskBatch, comps: np.ndarray, size: int, tokenization: str = "grid") -> np.ndarray:
    """(row, col) of each completion's last cell before <PATH_END>: int[n, 2]."""
    rc, n_before, _ = formats.decode_cells(comps, size, tokenization)
    return rc[np.arange(len(rc)), np.maximum(n_before - 1, 0)]


def expected_shares(batch: TaskBatch, ends: np.ndarray, target=(0, 2), proxy_label=(1, 2)) -> dict:
    """Where episodes ending at ``ends`` (all valid) end, from the batch's own labels: the shares
    the task's scoring must give (reaches_T, proxy_goal, other_goal, reached_nearest, end_<label>)."""
    rows = np.arange(len(ends))
    label = batch.extras["labels"][rows, ends[:, 0], ends[:, 1]]  # [n, 2]: shape, colour
    on_t = label[:, target[0]] == target[1]
    on_proxy = (label[:, proxy_label[0]] == proxy_label[1]) & ~on_t
    out = {
        "reaches_T": on_t.mean(),
        "proxy_goal": on_proxy.mean(),
        "other_goal": (~on_t & ~on_proxy).mean(),
        "reached_nearest": np.all(ends == batch.extras["target_rc"], axis=1).mean(),
    }
    for f, letter in enumerate("ab"):
        for k in range(4):
            out[f"end_{letter}{k}"] = (label[:, f] == k).mean()
    return out


def to_label(batch: TaskBatch, size: int, label: str, tokenization: str = "grid") -> np.ndarray:
    """The shortest path to the nearest cell carrying ``label`` (``"a2"``: shape 2, ``"b2"``: colour
    2; ties: the first found by breadth-first search); where no cell has it, the path stays at the
    origin (an episode that ends where it starts)."""
    feature, value = "ab".index(label[0]), int(label[1])
    paths = []
    for i, moves in enumerate(batch.extras["moves"]):
        has = batch.extras["labels"][i, :, :, feature] == value
        start = tuple(int(x) for x in batch.extras["origin_rc"][i])
        paths.append(_to_first(moves, start, has))
    return completions(paths, size, tokenization)


def _to_first(moves: np.ndarray, start: tuple[int, int], has: np.ndarray) -> list[tuple[int, int]]:
    """Breadth-first search from ``start`` to the first cell where ``has`` (bool[size, size])."""
    parent, queue = {start: None}, deque([start])
    while queue:
        cell = queue.popleft()
        if has[cell]:
            path = []
            while cell is not None:
                path.append(cell)
                cell = parent[cell]
            return path[::-1]
        for nxt in _neighbours(moves, cell):
            if nxt not in parent:
                parent[nxt] = cell
                queue.append(nxt)
    return [start]


def reachable_with(batch: TaskBatch, label: str) -> np.ndarray:
    """Whether a cell carrying ``label`` is reachable from the origin, by breadth-first search on the
    batch's own walls (independent of the task's vectorised search): bool[n]."""
    feature, value = "ab".index(label[0]), int(label[1])
    out = []
    for i, moves in enumerate(batch.extras["moves"]):
        has = batch.extras["labels"][i, :, :, feature] == value
        start = tuple(int(x) for x in batch.extras["origin_rc"][i])
        out.append(bool(has[_to_first(moves, start, has)[-1]]))
    return np.array(out)
