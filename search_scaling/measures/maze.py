"""Progress measures of the maze tasks (maze, maze_target), after Ivanitskiy et al. 2023
("Structured World Representations in Maze-Solving Transformers").

- ``wall_probe_L<l>``: mean balanced accuracy, over the maze's walls, of linear probes that read
  "is this wall open" from the residual stream after block l at the single token <PATH_START>
  (one probe per wall: each cell's right and down neighbour, so every wall once); fitted on the even
  examples of the probe set, scored on the odd ones. ``wall_probe_best``: the best layer.
- ``path_probe_L<l>`` / ``path_probe_best``: the future-path probe, the same probes reading "cell c
  lies on the path" for every cell of the grid, from the same <PATH_START> residuals: can the path
  be read off before its first move? The path is the *true* one (every cell strictly between its
  two ends; the ends are written in the prompt, so they are left out, as are cells outside the
  example's grid). Where the model solves a maze its greedy path is this path; the true path is
  chosen over the model's own greedy path because it is defined for every model, the untrained
  one included (whose step-0 value is the baseline of the report's control; an untrained model
  writes about the same answer for every maze, 2-9 distinct answers over 256 probe mazes for three
  L2-D32 inits on 4x4, so its own path gives most cells a single class and no probe), its labels
  do not move with the model between evaluations, and it needs no decoding. On mazes the model
  gets wrong it asks for a path the model will not take, so read it beside exact accuracy.
- ``wall_probe_best_control`` / ``path_probe_best_control``: the selectivity control, the best layer
  of the same probes on labels dealt to other examples (`probes.control_labels`; Hewitt and Liang
  2019): about 0.5, its excess the estimator's own bias; selectivity = ``_best`` - ``_best_control``.
- ``lens_decision_L<l>`` / ``lens_corridor_L<l>``: logit-lens accuracy of the next path cell from
  the residual stream after block l, at the path positions whose next step is a decision / a
  corridor step (decisions.py). At the last layer these equal ``decision_acc`` / ``corridor_acc``.
- ``adj_attn_L<l>H<h>``: attention mass from path positions onto the adjacency-list entries that
  contain the current cell (all four tokens of each ``(a) <--> (b) ;`` entry): the "adjacency head".
- ``target_attn_L<l>H<h>``: attention mass from path positions onto the target cell's coordinate
  outside the adjacency list (maze: the <TARGET_START> block; maze_target: the target's label entry).
``adj_attn_max`` / ``target_attn_max``: the head that does it most. Multi-episode prompts
(maze_target's retarget) are measured on the query episode, the one after the last <ADJLIST_START>.

Every tokenization (`formats`) is measured alike, by cell rather than by token: the "current cell"
of a path position is the last coordinate completed at or before it; an adjacency entry holds its
two cells (``aotp_ctt``: 12 tokens, ``( r , c ) <--> ( r , c ) ;``), a ``grid`` wall token the cell
at its raster position; a CTT coordinate counts with all five of its tokens. <PATH_START> ends the
prompt in every format, so the wall probes read the same position.
"""

from __future__ import annotations

import numpy as np
import torch

from search_scaling.measures.common import (
    Means,
    attention_scores,
    chunks,
    hook_names,
    lens_predictions,
    resid_name,
)
from search_scaling.measures.probes import layer_probes
from search_scaling.models.transformer import Transformer
from search_scaling.tasks import TaskBatch
from search_scaling.tasks.base import answer_span, token_groups
from search_scaling.tasks.maze import formats
from search_scaling.tasks.maze.config import GRID_MAX
from search_scaling.tasks.maze.decisions import TOKEN_GROUPS
from search_scaling.tasks.maze.tokens import ADJ_END, ADJ_START

ATTENTION_EXAMPLES = 64


@torch.no_grad()
def maze_measures(model: Transformer, batch: TaskBatch, tokenization: str = formats.DEFAULT) -> dict:
    """Probes and lens on the whole probe set (one forward pass with fused attention), attention
    scores on its first `ATTENTION_EXAMPLES` (explicit patterns cost T^2 per head and layer; a
    mean over every path position of 64 mazes is already steady)."""
    out = _probes_and_lens(model, batch, tokenization)
    attention = slice(0, ATTENTION_EXAMPLES)
    queries = query_kinds(batch)[attention] > 0
    tokens, prompt_len = batch.tokens[attention], batch.prompt_len[attention]
    target_rc = batch.extras["target_rc"][attention]
    keys = {"adj_attn": adjacency_keys(tokens, prompt_len, tokenization),
            "target_attn": target_keys(tokens, prompt_len, target_rc, tokenization)}  # fmt: skip
    out.update(attention_scores(model, tokens, queries, keys))
    return out


def _probes_and_lens(model: Transformer, batch: TaskBatch, tokenization: str) -> dict[str, float]:
    n_layers, kinds = model.cfg.n_layers, query_kinds(batch)
    means, at_start = Means(), [[] for _ in range(n_layers)]
    for idx, hooks in chunks(model, batch.tokens, hook_names(n_layers, pattern=False)):
        tokens, path_start = torch.from_numpy(batch.tokens[idx]), torch.from_numpy(batch.prompt_len[idx] - 1)
        for layer in range(n_layers):
            resid = hooks[resid_name(layer)]  # [chunk, T, d_model], on the model's device
            at_start[layer].append(resid[torch.arange(len(idx)), path_start].cpu())
            _lens(means, model, resid, tokens, kinds[idx], layer)
    features = [torch.cat(parts) for parts in at_start]  # per layer [n, d_model]
    wall, path = wall_labels(batch.extras["moves"], batch.size), path_labels(batch, tokenization)
    return {**layer_probes("wall_probe", features, *wall), **layer_probes("path_probe", features, *path),
            **means.result()}  # fmt: skip


def _lens(means: Means, model, resid: torch.Tensor, tokens: torch.Tensor, kinds: np.ndarray, layer: int):
    hits = lens_predictions(model, resid)[:, :-1].cpu() == tokens[:, 1:]  # [chunk, T-1]: t -> t+1
    for code, name in enumerate(TOKEN_GROUPS, start=1):
        at = torch.from_numpy(kinds[:, :-1] == code)
        means.add(f"lens_{name}_L{layer}", (hits & at).sum(), at.sum())


def wall_labels(moves: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every wall once, as (open bool[n, W], exists bool[n, W]) with W = 2 * size^2: the right then
    the down wall of each cell of the padded grid; a wall exists when both its cells lie inside the
    example's own grid. moves bool[n, size, size, 4] (directions up, left, right, down)."""
    n, size = moves.shape[:2]
    r, c = np.divmod(np.arange(size * size), size)
    k = sizes[:, None]
    exists = np.concatenate([(r < k) & (c + 1 < k), (r + 1 < k) & (c < k)], axis=1)
    flat = moves.reshape(n, size * size, 4)
    return np.concatenate([flat[..., 2], flat[..., 3]], axis=1) & exists, exists


def path_labels(batch: TaskBatch, tokenization: str = formats.DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """Which cells the true path crosses between its ends, as (on_path bool[n, C], counted bool[n, C])
    with C = size^2 cells of the padded grid in row-major order; a cell is counted when it lies in
    the example's own grid and is not one of the path's two ends (given in the prompt)."""
    size = batch.extras["moves"].shape[1]
    answer = answer_span(batch, int(batch.length.max() - batch.prompt_len.min()))[0]
    rc, n_cells, _ = formats.decode_cells(answer, size, tokenization)  # rc [n, W, 2]
    n, width = rc.shape[:2]
    on_path = np.zeros((n, size * size), bool)
    inner = (np.arange(width)[None, :] > 0) & (np.arange(width)[None, :] < n_cells[:, None] - 1)
    rows, at = np.nonzero(inner & (rc >= 0).all(axis=2))
    on_path[rows, rc[rows, at, 0] * size + rc[rows, at, 1]] = True
    r, c = np.divmod(np.arange(size * size), size)
    counted = (r[None, :] < batch.size[:, None]) & (c[None, :] < batch.size[:, None])
    rows = np.arange(n)
    for end in (rc[rows, 0], rc[rows, np.maximum(n_cells - 1, 0)]):  # the ends: [n, 2] each
        counted[rows, end[:, 0] * size + end[:, 1]] = False
    return on_path & counted, counted


def query_kinds(batch: TaskBatch) -> np.ndarray:
    """What each position predicts: int8[n, T], the token-group code (1 corridor, 2 decision) of
    the next token, 0 elsewhere."""
    groups = token_groups(batch, np.arange(len(batch)))  # [n, T-1]: entry t labels token t + 1
    return np.pad(groups, ((0, 0), (0, 1)))


def _episode(tokens: np.ndarray, prompt_len: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position of the query episode's <ADJLIST_START>, of its <ADJLIST_END>): int[n] each."""
    pos = np.arange(tokens.shape[1])[None, :]
    before = pos < prompt_len[:, None]
    start = np.where((tokens == ADJ_START) & before, pos, -1).max(axis=1)
    after = (tokens == ADJ_END) & (pos > start[:, None])
    return start, np.argmax(after, axis=1)


def adjacency_keys(tokens: np.ndarray, prompt_len: np.ndarray, tokenization: str = formats.DEFAULT):
    """bool[n, T, T]: for a query at answer position t, the positions of every entry of the query
    episode's maze block that holds the current cell (an adjacency entry ``(a) <--> (b) ;`` with a
    or b the cell; in ``grid``, the cell's own wall token)."""
    start, end = _episode(tokens, prompt_len)
    n, width = tokens.shape
    pos = np.arange(width)[None, :]
    inside = (pos > start[:, None]) & (pos < end[:, None])
    cell_a, cell_b = _block_cells(tokens, tokenization, start, end)  # [n, T] each, -1 outside
    current = _current_cells(tokens, tokenization)
    current = np.where(pos >= prompt_len[:, None], current, -1)[:, :, None]  # [n, Tq, 1]
    keys = (cell_a[:, None, :] == current) | (cell_b[:, None, :] == current)  # [n, Tq, Tk]
    return keys & (current >= 0) & inside[:, None, :]


def _block_cells(tokens: np.ndarray, tokenization: str, start: np.ndarray, end: np.ndarray):
    """The cells each maze-block position belongs to: (a, b) int[n, T] cell keys. An adjacency
    entry spans 2w + 2 tokens (w tokens a coordinate) with its cells at offsets 0 and w + 1."""
    n, width = tokens.shape
    pos = np.arange(width)[None, :]
    if tokenization == "grid":
        k = np.round(np.sqrt(np.maximum(end - start - 1, 0))).astype(int)[:, None]  # wall tokens: k^2
        r, c = np.divmod(pos - start[:, None] - 1, np.maximum(k, 1))
        key = formats.cell_key(np.stack([r, c], axis=-1))
        return key, key
    cells, _ = formats.token_cells(tokens, tokenization, GRID_MAX)
    w = formats.cell_width(tokenization)
    first = start[:, None] + 1 + (pos - start[:, None] - 1) // (2 * w + 2) * (2 * w + 2)
    take = lambda at: np.take_along_axis(cells, np.clip(at, 0, width - 1), axis=1)  # noqa: E731
    return take(first), take(first + w + 1)


def _current_cells(tokens: np.ndarray, tokenization: str) -> np.ndarray:
    """int[n, T]: the key of the last cell whose coordinate is complete at each position, -1 before
    any (for a path position, the cell the walker stands on while it writes the next one)."""
    cells, last = formats.token_cells(tokens, tokenization, GRID_MAX)
    pos = np.arange(tokens.shape[1])[None, :]
    latest = np.maximum.accumulate(np.where(last, pos, -1), axis=1)
    return np.where(latest >= 0, np.take_along_axis(cells, np.maximum(latest, 0), axis=1), -1)


def target_keys(tokens: np.ndarray, prompt_len: np.ndarray, target_rc: np.ndarray,
                tokenization: str = formats.DEFAULT) -> np.ndarray:  # fmt: skip
    """bool[n, T]: the query episode's prompt positions after its maze block that write the target
    cell's coordinate."""
    _, end = _episode(tokens, prompt_len)
    pos = np.arange(tokens.shape[1])[None, :]
    cells, _ = formats.token_cells(tokens, tokenization, GRID_MAX)
    target = formats.cell_key(target_rc)[:, None]
    return (cells == target) & (pos > end[:, None]) & (pos < prompt_len[:, None])
