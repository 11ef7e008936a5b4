"""maze-dataset's legacy AOTP unique-token format: vocabulary, batched encoding to ids, strings.

A sequence reads::

    <ADJLIST_START> (0,0) <--> (0,1) ; (0,1) <--> (1,1) ; <ADJLIST_END>
    <ORIGIN_START> (0,0) <ORIGIN_END> <TARGET_START> (1,1) <TARGET_END>
    <PATH_START> (0,0) (0,1) (1,1) <PATH_END>

Vocabulary: the 11 special tokens in maze-dataset's order, then coordinates in growing square
shells: shell s holds (0,s) (s,0) (1,s) (s,1) ... (s-1,s) (s,s-1) (s,s). A smaller grid's vocabulary
is therefore a prefix of a larger one's, so one model can train across maze sizes. (maze-dataset's
own id table follows set order from shell 3 on; the token *strings* are identical, which is what
interoperates.)
"""

from __future__ import annotations

import numpy as np

from search_scaling import rng as rs

SPECIALS = (
    "<ADJLIST_START>", "<ADJLIST_END>", "<TARGET_START>", "<TARGET_END>", "<ORIGIN_START>",
    "<ORIGIN_END>", "<PATH_START>", "<PATH_END>", "<-->", ";", "<PADDING>",
)  # fmt: skip
(ADJ_START, ADJ_END, TARGET_START, TARGET_END, ORIGIN_START, ORIGIN_END,
 PATH_START, PATH_END, CONNECTOR, ENDLINE, PAD) = range(len(SPECIALS))  # fmt: skip
N_SPECIAL = len(SPECIALS)


def coord_id(r, c):
    """Token id of coordinate (r, c) in the shell order (works on ints or arrays)."""
    s = np.maximum(r, c)
    offset = np.where(r == c, 2 * s, np.where(c == s, 2 * r, 2 * c + 1))
    return N_SPECIAL + s * s + offset


def vocabulary(grid_n: int) -> list[str]:
    """All token strings for grids up to ``grid_n``; index = token id."""
    coords = [""] * (grid_n * grid_n)
    for r in range(grid_n):
        for c in range(grid_n):
            coords[int(coord_id(r, c)) - N_SPECIAL] = f"({r},{c})"
    return list(SPECIALS) + coords


def vocab_size(grid_n: int) -> int:
    return N_SPECIAL + grid_n * grid_n


def cell_ids(n: int) -> np.ndarray:
    """Token id of every cell of an n x n grid, row-major: int64[N]."""
    r, c = np.divmod(np.arange(n * n), n)
    return coord_id(r, c)


def adjacency_edges(conn: np.ndarray, keys: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Open edges of each maze, in token order: (a, b, count); a, b int[B, Emax] cells, -1 padded.

    Sorted (``keys is None``): each edge smaller cell first, edges lexicographic, which is the order
    of walls (cell, right) then (cell, down) over cells in row-major order. Shuffled: an independent
    random order and a random endpoint order per edge, from each maze's stream.
    """
    batch, _, n, _ = conn.shape
    is_open = np.stack([conn[:, 1], conn[:, 0]], axis=-1).reshape(batch, -1)  # [B, 2N]
    count = is_open.sum(axis=1)
    row, wall = np.nonzero(is_open)  # row-major: each maze's walls in sorted order
    walls = np.full((batch, int(count.max())), -1, dtype=np.int64)
    walls[row, np.arange(row.size) - np.repeat(np.cumsum(count) - count, count)] = wall
    a = np.where(walls >= 0, walls // 2, -1)
    b = np.where(walls % 2 == 0, a + 1, a + n)
    if keys is None:
        return a, np.where(walls >= 0, b, -1), count
    bits = rs.bits_matrix(keys, walls.shape[1])
    order = np.argsort(np.where(walls >= 0, bits >> np.uint64(1), np.uint64(2**63)), axis=1)
    flip = np.take_along_axis(bits & np.uint64(1), order, axis=1).astype(bool)
    a, b = np.take_along_axis(a, order, axis=1), np.take_along_axis(b, order, axis=1)
    b = np.where(a >= 0, b, -1)
    return np.where(flip, b, a), np.where(flip, a, b), count


def fill_edge_tokens(dest: np.ndarray, a: np.ndarray, b: np.ndarray, ids: np.ndarray) -> None:
    """Write ``(a) <--> (b) ;`` for every edge into ``dest`` int[B, E, 4]; ids maps cell -> token."""
    dest[..., 0], dest[..., 1], dest[..., 2], dest[..., 3] = ids[a], CONNECTOR, ids[b], ENDLINE


def encode_batch(conn, origin, target, paths, path_len, keys=None) -> np.ndarray:
    """Token ids of a batch of solved mazes, right-padded with <PADDING>: int32[B, T].

    conn bool[B, 2, n, n]; origin, target int[B] cells; paths int[B, Lmax] cells (padded);
    path_len int[B] cells on the path; keys: per-maze shuffle streams, or None for sorted order.
    """
    batch, _, n, _ = conn.shape
    ids = np.append(cell_ids(n), PAD).astype(np.int32)  # cell -1 (padding) maps to <PADDING>
    a, b, n_edges = adjacency_edges(conn, keys)
    head = (ADJ_END, ORIGIN_START, ids[origin], ORIGIN_END, TARGET_START, ids[target], TARGET_END, PATH_START)
    width_e, width_t = 4 * a.shape[1], len(head) + paths.shape[1] + 1
    out = np.full((batch, 1 + width_e + width_t), PAD, dtype=np.int32)
    out[:, 0] = ADJ_START
    fill_edge_tokens(out[:, 1 : 1 + width_e].reshape(batch, -1, 4), a, b, ids)
    # Everything after the adjacency list sits at a per-row offset (edge counts differ with loops).
    tail = np.empty((batch, width_t), dtype=np.int32)
    for j, tok in enumerate(head):
        tail[:, j] = tok
    tail[:, len(head) : -1], tail[:, -1] = ids[paths], PAD
    tail[np.arange(batch), len(head) + path_len] = PATH_END
    length = 1 + 4 * n_edges + width_t - (paths.shape[1] - path_len)
    if np.all(n_edges == n_edges[0]):
        out[:, 1 + 4 * n_edges[0] :][:, :width_t] = tail
    else:
        out[np.arange(batch)[:, None], (1 + 4 * n_edges)[:, None] + np.arange(width_t)] = tail
    out[np.arange(out.shape[1])[None, :] >= length[:, None]] = PAD
    return out[:, : int(length.max())]


def ids_to_text(ids, grid_n: int | None = None) -> str:
    """One sequence of ids -> space-separated token string, dropping padding."""
    ids = [int(i) for i in ids if int(i) != PAD]
    top = max([i for i in ids if i >= N_SPECIAL], default=N_SPECIAL) - N_SPECIAL
    n = grid_n or int(np.ceil(np.sqrt(top + 1)))
    vocab = vocabulary(max(n, 1))
    if ids and max(ids) >= len(vocab):
        raise ValueError(f"token id {max(ids)} is outside the vocabulary of a {n}x{n} grid")
    return " ".join(vocab[i] for i in ids)
