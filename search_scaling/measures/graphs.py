"""Progress measure of the graph tasks (graph_search, path_star): the edge lookup.

``edge_attn_L<l>H<h>``: the attention mass from each position that predicts a move (the one
holding the path's previous vertex, or the dummy token under teacherless training) onto the two
vertex tokens of the edge that move takes, wherever it sits in the shuffled edge list;
``edge_attn_max``: the head that does it most. Following a path is this lookup done once per step
(in path-star it is the whole "Clever Hans" cheat); a model that searches still needs it to read
the edges, so the measure rises as the edge list becomes readable.
"""

from __future__ import annotations

import numpy as np
import torch

from search_scaling.measures.common import attention_scores
from search_scaling.models.transformer import Transformer
from search_scaling.tasks import TaskBatch


@torch.no_grad()
def graph_measures(model: Transformer, batch: TaskBatch) -> dict[str, float]:
    queries, keys = edge_positions(batch)
    return attention_scores(model, batch.model_inputs(), queries, {"edge_attn": keys})


def edge_positions(batch: TaskBatch) -> tuple[np.ndarray, np.ndarray]:
    """Queries bool[n, T] at prompt_len + j - 1 for the moves j = 1..n_moves; keys bool[n, T, T]:
    for each query, the two vertex tokens of the listed edge joining the path's vertices j - 1 and j
    (in either direction: a reversed answer walks the edges backwards)."""
    tokens, edge_at, n_moves = batch.tokens, batch.extras["edge_at"], batch.extras["n_moves"]
    n, width = tokens.shape
    rows = np.arange(n)[:, None]
    j = np.arange(1, int(n_moves.max()) + 1)[None, :]  # [1, J]
    live = j <= n_moves[:, None]
    at = np.minimum(batch.prompt_len[:, None] + j, width - 1)
    prev, nxt = tokens[rows, at - 1], tokens[rows, at]  # [n, J]
    listed = edge_at >= 0
    u, v = tokens[rows, np.maximum(edge_at, 0)], tokens[rows, np.maximum(edge_at, 0) + 1]  # [n, E]
    joins = ((u[:, None] == prev[..., None]) & (v[:, None] == nxt[..., None])) | (
        (u[:, None] == nxt[..., None]) & (v[:, None] == prev[..., None])
    )  # [n, J, E]
    joins &= listed[:, None, :] & live[..., None]
    query_at = np.where(live, at - 1, 0)
    queries = np.zeros((n, width), dtype=bool)
    queries[np.nonzero(live)[0], query_at[live]] = True
    keys = np.zeros((n, width, width), dtype=bool)
    b, jj, e = np.nonzero(joins)
    for offset in (0, 1):
        keys[b, query_at[b, jj], edge_at[b, e] + offset] = True
    return queries, keys
