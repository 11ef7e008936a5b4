"""The maze path-finding `Task`: size = grid_n; answer = the path tokens and <PATH_END>."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from search_scaling.tasks.base import Task, TaskBatch, answer_span
from search_scaling.tasks.maze import formats
from search_scaling.tasks.maze.batch import MazeBatch, generate
from search_scaling.tasks.maze.config import GRID_MAX, MazeConfig
from search_scaling.tasks.maze.decisions import TOKEN_GROUPS, answer_kinds, count_decisions
from search_scaling.tasks.maze.formats import decode_cells
from search_scaling.tasks.maze.lattice import DC, DR, open_moves
from search_scaling.tasks.maze.text import SolvedMaze
from search_scaling.tasks.maze.tokens import PAD, PATH_END, PATH_START


class MazeTask(Task):
    """Options are `MazeConfig` fields other than grid_n (generator, p, endpoints, ...) and
    ``tokenization`` (aotp | aotp_ctt | grid: how the maze is written, see `formats`).
    ``sampling="uniform"`` mixes grid sizes 2..grid_n (the vocabulary is shared: a prefix)."""

    name = "maze"
    size_name = "grid_n"
    size_range = (2, GRID_MAX)
    primary_metric = "exact"
    pad_id = PAD
    token_groups = TOKEN_GROUPS  # corridor_loss/_acc, decision_loss/_acc
    stratum = ("dec", "n_decisions")  # exact_dec_<k>: exact accuracy of paths with k decisions
    extra_strata = (("detour", "detour"),)  # exact_detour_<d>: ... whose detour is d steps
    format_defaults = {"tokenization": formats.DEFAULT}  # how examples are written, not which

    def __init__(self, **options):
        sampling = options.pop("sampling", None)
        super().__init__(sampling=sampling)
        tokenization = options.pop("tokenization", formats.DEFAULT)
        self.tokenization = formats.check_tokenization(self.name, tokenization)
        allowed = sorted(f.name for f in fields(MazeConfig) if f.name != "grid_n") + ["sampling"]
        allowed.append("tokenization")
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(f"maze: unknown option(s) {unknown}; allowed: {allowed}")
        self.maze_options = options
        self.config(2)  # validate options now, not at the first batch (max_decisions: check_size)

    def check_size(self, size: int) -> None:
        super().check_size(size)
        MazeConfig(grid_n=size, **self.maze_options)  # max_decisions must be feasible at the size

    def vocabulary(self, size: int) -> list[str]:
        return formats.vocabulary(self.tokenization, size)

    def max_len(self, size: int) -> int:
        return maze_max_len(size, self.tokenization)

    def config(self, grid_n: int) -> MazeConfig:
        """The distribution at one grid size. A smaller grid mixed into training (``sampling``) caps
        ``max_decisions`` at what it can offer; the task's own size is checked in `check_size`."""
        options = dict(self.maze_options)
        if options.get("max_decisions") is not None:
            feasible = MazeConfig(grid_n=grid_n, **{**options, "max_decisions": None}).feasible_decisions()
            options["max_decisions"] = min(options["max_decisions"], feasible[1])
        return MazeConfig(grid_n=grid_n, **options)

    def _generate_size(self, n: int, k: int, size: int, rng: np.random.Generator) -> TaskBatch:
        return self.from_mazes(generate(self.config(k), n, rng), size)

    def from_mazes(self, batch: MazeBatch, size: int | None = None) -> TaskBatch:
        """The task's examples of given mazes (a `MazeBatch`, e.g. `mazes_to_batch` of hand-made
        ones), written in its tokenization for models of grids up to ``size`` (default: theirs)."""
        k = batch.config.grid_n
        size = k if size is None else size
        n = len(batch)
        tokens = formats.encode(self.tokenization, batch, size).astype(np.int64)
        start = np.argmax(tokens == PATH_START, axis=1) + 1
        end = np.argmax(tokens == PATH_END, axis=1) + 1
        pos = np.arange(tokens.shape[1])[None, :]
        mask = (pos >= start[:, None]) & (pos < end[:, None])
        moves = open_moves(batch.conn)  # [n, k*k, 4]
        extras = {
            "moves": pad_to_grid(moves, size),
            "origin_rc": cells_to_rc(batch.origin, k),
            "target_rc": cells_to_rc(batch.target, k),
            **decision_extras(moves, batch.paths, batch.path_len, size, self.tokenization),
        }
        return TaskBatch(tokens, mask, start, end, np.full(n, k), extras)

    def encode_example(self, text: str | None = None, **maze) -> list[int]:
        """Text in the task's tokenization (or the fields of a SolvedMaze: grid_n, edges, origin,
        target, path) -> ids; adjacency lists in maze-dataset's sorted order."""
        solved = self.decode_example(text) if text is not None else SolvedMaze.build(**maze)
        vocab = {tok: i for i, tok in enumerate(self.vocabulary(solved.grid_n))}
        return [vocab[t] for t in formats.to_text(self.tokenization, solved).split()]

    def decode_example(self, text_or_ids, grid_n: int | None = None) -> SolvedMaze:
        """Text, or token ids with ``grid_n``, in the task's tokenization -> the maze and its path."""
        if isinstance(text_or_ids, str):
            return formats.parse_text(self.tokenization, text_or_ids, grid_n)
        return formats.parse_ids(self.tokenization, text_or_ids, grid_n)

    def _score_extra(self, batch: TaskBatch, completions: np.ndarray) -> dict[str, np.ndarray]:
        return score_paths(batch, completions, self.tokenization)


def maze_max_len(n: int, tokenization: str = formats.DEFAULT) -> int:
    """<ADJ_START>, the maze block (`formats.maze_block_len`), 6 header tokens and two coordinates,
    a path of at most n*n coordinates, <PATH_END>."""
    width = formats.cell_width(tokenization)
    return 1 + formats.maze_block_len(tokenization, n) + 6 + 2 * width + width * n * n + 1


def decision_extras(moves: np.ndarray, paths: np.ndarray, path_len: np.ndarray, size: int,
                    tokenization: str = formats.DEFAULT) -> dict:  # fmt: skip
    """token_group (answer-token kinds, as wide as the longest answer at ``size``), n_decisions
    and detour (path steps minus the Manhattan distance from origin to end: 0 = walks straight
    toward it; always even on a grid)."""
    kinds = answer_kinds(moves, paths, path_len, size * size + 1)
    return {
        "token_group": formats.expand_kinds(tokenization, kinds),
        "n_decisions": count_decisions(moves, paths, path_len),
        "detour": path_detour(paths, path_len, int(round(moves.shape[1] ** 0.5))),
    }


def path_detour(paths: np.ndarray, path_len: np.ndarray, k: int) -> np.ndarray:
    """Steps of each path beyond the Manhattan distance of its ends: int64[B]; paths int[B, L]
    row-major cells of a k x k grid (padded with -1), path_len cells on each path."""
    first, last = np.divmod(paths[:, 0], k), np.divmod(paths[np.arange(len(paths)), path_len - 1], k)
    manhattan = np.abs(first[0] - last[0]) + np.abs(first[1] - last[1])
    return (path_len - 1 - manhattan).astype(np.int64)


def cells_to_rc(cells: np.ndarray, n: int) -> np.ndarray:
    """Row-major cell indices int[m] -> (row, col) int[m, 2]."""
    return np.stack(np.divmod(cells, n), axis=1)


def pad_to_grid(per_cell: np.ndarray, size: int) -> np.ndarray:
    """Per-cell arrays [m, k*k, ...] laid out on the largest grid [m, size, size, ...], zero outside,
    so batches that mix grid sizes share one array."""
    m, count = per_cell.shape[:2]
    k = int(round(count**0.5))
    out = np.zeros((m, size, size, *per_cell.shape[2:]), dtype=per_cell.dtype)
    out[:, :k, :k] = per_cell.reshape(m, k, k, *per_cell.shape[2:])
    return out


def score_paths(batch: TaskBatch, completions: np.ndarray, tokenization: str = formats.DEFAULT) -> dict:
    """Maze metrics per example: valid (starts at the origin, every step along an open edge, ends
    with <PATH_END>), reached (valid and ends at the target), first_step (second cell right),
    prefix_len (leading cells that match the true path) and prefix_frac (over the true length)."""
    moves, size = batch.extras["moves"], batch.extras["moves"].shape[1]
    rc, n_before, terminated = decode_cells(completions, size, tokenization)  # rc [n, W, 2] by cell
    n, w = rc.shape[:2]
    rows = np.arange(n)
    true_rc, true_len = decode_cells(answer_span(batch, completions.shape[1])[0], size, tokenization)[:2]
    in_grid = (rc[..., 0] >= 0) & (rc[..., 0] < batch.size[:, None]) & (rc[..., 1] < batch.size[:, None])
    step_ok = _steps_open(moves, rc)  # [n, W-1]: move from cell j to j+1 is along an open edge
    pos = np.arange(w)[None, :]
    used = pos < n_before[:, None]
    cells_ok = np.all(in_grid | ~used, axis=1) & (n_before > 0)
    steps_ok = np.all(step_ok | ~(pos[:, 1:] < n_before[:, None]), axis=1)
    starts = np.all(rc[:, 0] == batch.extras["origin_rc"], axis=1)
    valid = cells_ok & steps_ok & starts & terminated
    last = rc[rows, np.maximum(n_before - 1, 0)]
    match = np.all(rc == true_rc, axis=2) & (pos < true_len[:, None])
    prefix = np.argmin(np.concatenate([match, np.zeros((n, 1), bool)], axis=1), axis=1)
    return {
        "valid": valid.astype(float),
        "reached": (valid & np.all(last == batch.extras["target_rc"], axis=1)).astype(float),
        "first_step": match[:, 1].astype(float) if w > 1 else np.zeros(n),
        "prefix_len": prefix.astype(float),
        "prefix_frac": prefix / np.maximum(true_len, 1),
    }


# _DIRECTION[dr + 1, dc + 1] = the lattice's index of the move (dr, dc); -1 for non-moves
_DIRECTION = np.full((3, 3), -1)
_DIRECTION[DR + 1, DC + 1] = np.arange(4)


def _steps_open(moves: np.ndarray, rc: np.ndarray) -> np.ndarray:
    """Whether each consecutive pair of cells is joined by an open wall: bool[n, W-1]."""
    a, b = rc[:, :-1], rc[:, 1:]
    d = np.clip(b - a + 1, 0, 2)  # one step in any lattice direction lands in {0, 1, 2}^2
    direction = np.where(np.abs(b - a).sum(axis=2) == 1, _DIRECTION[d[..., 0], d[..., 1]], -1)
    size = moves.shape[1]
    ok = (direction >= 0) & np.all((a >= 0) & (a < size), axis=2)
    rows = np.arange(len(rc))[:, None]
    safe = np.clip(a, 0, size - 1)
    return ok & moves[rows, safe[..., 0], safe[..., 1], np.maximum(direction, 0)]
