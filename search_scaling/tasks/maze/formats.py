"""Maze tokenizations: one maze, three ways to write it (the ``tokenization`` option of `maze` and
`maze_target`). Every format keeps maze-dataset's special tokens (same ids) and its section order::

    aotp      <ADJLIST_START> (0,0) <--> (0,1) ; ... <ADJLIST_END> <ORIGIN_START> (0,0) <ORIGIN_END>
              <TARGET_START> (1,1) <TARGET_END> <PATH_START> (0,0) (0,1) (1,1) <PATH_END>
    aotp_ctt  the same with every coordinate as five tuple tokens ``( 0 , 1 )`` sharing row/column
              tokens 0..n-1 (maze-dataset 1.4.2's coordinate-tuple convention, byte for byte)
    grid      <ADJLIST_START> {RD} {LD} {UR} {UL} <ADJLIST_END> <ORIGIN_START> (0,0) ... <PATH_END>
              one wall-pattern token per cell in raster order naming the cell's open sides (U up,
              L left, R right, D down; 16 tokens, ``{}`` = closed), then the AOTP endpoints and path

``aotp`` is the default and today's bytes. ``aotp_ctt`` is the AOTP sequence with each coordinate
expanded (same adjacency order, so an aotp and an aotp_ctt run see the same mazes in the same edge
order). ``grid`` writes n^2 maze tokens instead of about 4 (n^2 - 1) and puts each cell's walls at a
position given by the cell, so reading them is a lookup by position instead of by content; it has
no adjacency order (``adj_order`` does not apply).

Vocabularies grow with the size as prefixes: ``aotp`` specials + coordinates in shells; ``aotp_ctt``
specials + ``( , )`` + 0..n-1 (maze-dataset's legacy AOTP_CTT_indexed order); ``grid`` specials +
the 16 wall tokens + the coordinates in shells.
"""

from __future__ import annotations

import re

import numpy as np

from search_scaling.tasks.maze import tokens as aotp
from search_scaling.tasks.maze.lattice import open_moves
from search_scaling.tasks.maze.text import SolvedMaze, parse_aotp, to_aotp
from search_scaling.tasks.maze.tokens import (
    ADJ_END,
    ADJ_START,
    N_SPECIAL,
    ORIGIN_END,
    ORIGIN_START,
    PAD,
    PATH_END,
    PATH_START,
    SPECIALS,
    TARGET_END,
    TARGET_START,
)

TOKENIZATIONS = ("aotp", "aotp_ctt", "grid")
DEFAULT = "aotp"

CTT_PUNCT = ("(", ",", ")")
CTT_OPEN, CTT_COMMA, CTT_CLOSE = N_SPECIAL, N_SPECIAL + 1, N_SPECIAL + 2
CTT_DIGIT0 = N_SPECIAL + 3  # row/column token i has id CTT_DIGIT0 + i
CTT_WIDTH = 5  # tokens per coordinate: ( r , c )

SIDES = "ULRD"  # the lattice's direction order (lattice.py): up, left, right, down
WALL_TOKENS = tuple("{" + "".join(s for d, s in enumerate(SIDES) if b >> d & 1) + "}" for b in range(16))
GRID_CELL_OFFSET = len(WALL_TOKENS)  # grid coordinates sit after the wall tokens
_CELL_KEY = 64  # cell key r * _CELL_KEY + c (GRID_MAX): one integer per cell across grid sizes


def check_tokenization(task: str, value) -> str:
    if value not in TOKENIZATIONS:
        raise ValueError(f"{task}.tokenization must be one of {list(TOKENIZATIONS)}, got {value!r}")
    return value


# -- vocabulary and lengths --------------------------------------------------------------------------
def vocabulary(tokenization: str, size: int) -> list[str]:
    """Token strings for grids up to ``size``; index = token id."""
    if tokenization == "aotp_ctt":
        return list(SPECIALS) + list(CTT_PUNCT) + [str(i) for i in range(size)]
    base = aotp.vocabulary(size)
    return base[:N_SPECIAL] + list(WALL_TOKENS) + base[N_SPECIAL:] if tokenization == "grid" else base


def cell_width(tokenization: str) -> int:
    """Tokens per coordinate."""
    return CTT_WIDTH if tokenization == "aotp_ctt" else 1


def maze_block_len(tokenization: str, n: int) -> int:
    """The most tokens between <ADJLIST_START> and <ADJLIST_END> on an n x n grid: one per cell
    (grid), or ``a <--> b ;`` for each of at most 2n(n-1) open walls."""
    return n * n if tokenization == "grid" else (2 * cell_width(tokenization) + 2) * 2 * n * (n - 1)


def cell_ids(tokenization: str, k: int) -> np.ndarray:
    """Token id of every cell of a k x k grid, row-major, in a one-token format (aotp, grid)."""
    return aotp.cell_ids(k) + (GRID_CELL_OFFSET if tokenization == "grid" else 0)


# -- encoding ----------------------------------------------------------------------------------------
def encode(tokenization: str, batch, size: int) -> np.ndarray:
    """Token ids of a `MazeBatch` in ``tokenization``: int32[B, T], <PADDING> on the right."""
    if tokenization == "aotp":
        return batch.tokens
    if tokenization == "aotp_ctt":
        return expand_to_ctt(batch.tokens, size)
    return encode_grid(batch.conn, batch.origin, batch.target, batch.paths, batch.path_len)


def wall_tokens(conn: np.ndarray) -> np.ndarray:
    """The wall-pattern token of every cell, row-major: conn bool[B, 2, k, k] -> int[B, k*k]."""
    return N_SPECIAL + open_moves(conn).astype(np.int64) @ (1 << np.arange(4))


def encode_grid(conn, origin, target, paths, path_len) -> np.ndarray:
    """The grid format of solved mazes (arguments as `tokens.encode_batch`): int32[B, T]."""
    batch, _, k, _ = conn.shape
    ids = np.append(cell_ids("grid", k), PAD)  # cell -1 (path padding) -> <PADDING>
    head = (ADJ_END, ORIGIN_START, ids[origin], ORIGIN_END, TARGET_START, ids[target], TARGET_END, PATH_START)
    path_at = 1 + k * k + len(head)
    out = np.full((batch, path_at + paths.shape[1] + 1), PAD, dtype=np.int32)
    out[:, 0], out[:, 1 : 1 + k * k] = ADJ_START, wall_tokens(conn)
    for j, tok in enumerate(head):
        out[:, 1 + k * k + j] = tok
    out[:, path_at : path_at + paths.shape[1]] = ids[paths]
    out[np.arange(batch), path_at + path_len] = PATH_END
    return out[:, : path_at + int(path_len.max()) + 1]


def _ctt_table(size: int, n_extra: int) -> np.ndarray:
    """AOTP id -> its CTT ids, -1 padded: int[V + n_extra, 5]. Specials stay; (r,c) becomes
    ( r , c ); the ``n_extra`` ids after the AOTP vocabulary (a task's own tokens) move behind the
    CTT vocabulary."""
    v_aotp, v_ctt = aotp.vocab_size(size), len(vocabulary("aotp_ctt", size))
    table = np.full((v_aotp + n_extra, CTT_WIDTH), -1, dtype=np.int64)
    table[:N_SPECIAL, 0] = np.arange(N_SPECIAL)
    r, c = np.divmod(np.arange(size * size), size)
    table[aotp.coord_id(r, c)] = np.stack(
        [np.full_like(r, CTT_OPEN), CTT_DIGIT0 + r, np.full_like(r, CTT_COMMA), CTT_DIGIT0 + c,
         np.full_like(r, CTT_CLOSE)], axis=1)  # fmt: skip
    table[v_aotp:, 0] = v_ctt + np.arange(n_extra)
    return table


def expand_to_ctt(ids: np.ndarray, size: int, n_extra: int = 0) -> np.ndarray:
    """AOTP ids int[B, T] (grids up to ``size``, plus ``n_extra`` task tokens after the
    vocabulary) -> the same sequences in CTT: int32[B, T'], <PADDING> on the right."""
    out = _ctt_table(size, n_extra)[ids].reshape(len(ids), -1)  # [B, 5T]
    keep = (out >= 0) & (out != PAD)
    res = np.full((len(ids), int(keep.sum(axis=1).max())), PAD, dtype=np.int32)
    rows = np.broadcast_to(np.arange(len(ids))[:, None], out.shape)
    res[rows[keep], (np.cumsum(keep, axis=1) - 1)[keep]] = out[keep]
    return res


def expand_kinds(tokenization: str, kinds: np.ndarray) -> np.ndarray:
    """Answer-token kinds by cell (`decisions.answer_kinds`, int8[B, W]) -> by token. In CTT the
    row and column tokens of a cell carry its kind (either can be the one a decision changes);
    the parentheses and comma are not steps."""
    if tokenization != "aotp_ctt":
        return kinds
    out = np.zeros((len(kinds), CTT_WIDTH * (kinds.shape[1] - 1) + 1), dtype=kinds.dtype)
    out[:, 1:-1:CTT_WIDTH], out[:, 3:-1:CTT_WIDTH] = kinds[:, :-1], kinds[:, :-1]
    return out


# -- text ----------------------------------------------------------------------------------------------
def to_text(tokenization: str, maze: SolvedMaze) -> str:
    """The maze as text; AOTP and CTT adjacency lists in maze-dataset's sorted order."""
    if tokenization == "aotp_ctt":
        return re.sub(r"\((\d+),(\d+)\)", r"( \1 , \2 )", to_aotp(maze))
    return to_grid(maze) if tokenization == "grid" else to_aotp(maze)


def parse_text(tokenization: str, text, grid_n: int | None = None) -> SolvedMaze:
    """Text (or a token list) in ``tokenization`` -> `SolvedMaze`; malformed input raises ValueError."""
    words = text.split() if isinstance(text, str) else [str(t) for t in text]
    words = [t for t in words if t != "<PADDING>"]
    if tokenization == "aotp_ctt":  # ( r , c ) -> (r,c); anything left over fails as an AOTP token
        return parse_aotp(re.sub(r"\( (\d+) , (\d+) \)", r"(\1,\2)", " ".join(words)), grid_n)
    return parse_grid(words, grid_n) if tokenization == "grid" else parse_aotp(words, grid_n)


def parse_ids(tokenization: str, ids, grid_n: int) -> SolvedMaze:
    vocab = vocabulary(tokenization, grid_n)
    bad = [(i, int(t)) for i, t in enumerate(ids) if not 0 <= int(t) < len(vocab)]
    if bad:
        raise ValueError(f"token id {bad[0][1]} at position {bad[0][0]} is outside the {tokenization} "
                         f"vocabulary of a {grid_n}x{grid_n} grid ({len(vocab)} ids)")  # fmt: skip
    return parse_text(tokenization, [vocab[int(t)] for t in ids], grid_n)


def to_grid(maze: SolvedMaze) -> str:
    n = maze.grid_n
    bits = np.zeros((n, n), dtype=int)
    for (r1, c1), (r2, c2) in maze.edges:  # smaller cell first: the second is right of or below it
        first, second = (4, 2) if r1 == r2 else (8, 1)  # right/left or down/up
        bits[r1, c1] |= first
        bits[r2, c2] |= second
    walls = " ".join(WALL_TOKENS[b] for b in bits.ravel())
    rest = to_aotp(maze).split("<ADJLIST_END>", 1)[1]
    return f"<ADJLIST_START> {walls} <ADJLIST_END>{rest}"


def parse_grid(words: list[str], grid_n: int | None = None) -> SolvedMaze:
    """Grid tokens -> `SolvedMaze`: the wall block is checked (k^2 known tokens, each open side
    matched by its neighbour's, none opening off the grid), then read as an AOTP adjacency list."""
    if not words or words[0] != "<ADJLIST_START>" or "<ADJLIST_END>" not in words:
        raise ValueError("malformed grid maze: expected <ADJLIST_START> <wall tokens> <ADJLIST_END> ...")
    end = words.index("<ADJLIST_END>")
    block = words[1:end]
    k = int(round(len(block) ** 0.5))
    if k * k != len(block) or k < 1 or (grid_n is not None and k != grid_n):
        raise ValueError(f"malformed grid maze: {len(block)} wall tokens is not one per cell of a square grid"
                         + (f" of side {grid_n}" if grid_n is not None else ""))  # fmt: skip
    unknown = [(i + 1, w) for i, w in enumerate(block) if w not in WALL_TOKENS]
    if unknown:
        raise ValueError(f"malformed grid maze: {unknown[0][1]!r} at position {unknown[0][0]} is not a "
                         f"wall token (one of {list(WALL_TOKENS)})")  # fmt: skip
    bits = np.array([WALL_TOKENS.index(w) for w in block]).reshape(k, k)
    side = {s: (bits >> d & 1).astype(bool) for d, s in enumerate(SIDES)}
    across = np.array_equal(side["R"][:, :-1], side["L"][:, 1:])
    paired = across and np.array_equal(side["D"][:-1], side["U"][1:])
    off_grid = side["R"][:, -1].any() or side["L"][:, 0].any() or side["D"][-1].any() or side["U"][0].any()
    if not paired or off_grid:
        raise ValueError("malformed grid maze: an open side is not matched by its neighbour's "
                         "(or opens off the grid)")  # fmt: skip
    edges = [f"({r},{c}) <--> ({r},{c + 1}) ;" for r, c in zip(*np.nonzero(side["R"]))]
    edges += [f"({r},{c}) <--> ({r + 1},{c}) ;" for r, c in zip(*np.nonzero(side["D"]))]
    return parse_aotp(["<ADJLIST_START>", *" ".join(edges).split(), *words[end:]], k)


# -- reading answers and positions ---------------------------------------------------------------------
def decode_cells(completions: np.ndarray, max_n: int, tokenization: str = DEFAULT):
    """Completion tokens int[n, W] -> (rc int[n, C, 2], -1 for anything that is not a well-formed
    coordinate; cells before <PATH_END> int[n]; terminated bool[n])."""
    w = completions.shape[1]
    is_end = completions == PATH_END
    terminated = is_end.any(axis=1)
    end = np.where(terminated, np.argmax(is_end, axis=1), w)  # tokens before <PATH_END>
    if tokenization == "aotp_ctt":
        return (*_decode_ctt(completions, max_n, end), terminated)
    offset = GRID_CELL_OFFSET if tokenization == "grid" else 0
    table = np.full((N_SPECIAL + offset + max_n * max_n, 2), -1)
    r, c = np.divmod(np.arange(max_n * max_n), max_n)
    table[aotp.coord_id(r, c) + offset] = np.stack([r, c], axis=1)
    ok = (completions >= 0) & (completions < len(table))
    return np.where(ok[..., None], table[np.where(ok, completions, 0)], -1), end, terminated


def _decode_ctt(completions: np.ndarray, max_n: int, end: np.ndarray):
    """Groups of five tokens; a group cut by <PATH_END> (or by the width) is malformed."""
    n, w = completions.shape
    groups = -(-w // CTT_WIDTH)
    g = np.full((n, groups * CTT_WIDTH), -1, dtype=np.int64)
    g[:, :w] = completions
    g = g.reshape(n, groups, CTT_WIDTH)
    r, c = g[..., 1] - CTT_DIGIT0, g[..., 3] - CTT_DIGIT0
    formed = (g[..., 0] == CTT_OPEN) & (g[..., 2] == CTT_COMMA) & (g[..., 4] == CTT_CLOSE)
    formed &= (r >= 0) & (r < max_n) & (c >= 0) & (c < max_n)
    formed &= (np.arange(1, groups + 1) * CTT_WIDTH)[None, :] <= end[:, None]
    return np.where(formed[..., None], np.stack([r, c], axis=-1), -1), -(-end // CTT_WIDTH)


def token_cells(tokens: np.ndarray, tokenization: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Which cell each position writes: (key int[n, T] = r * 64 + c, -1 for no cell; last bool[n, T]:
    the position completes the cell's coordinate). A CTT coordinate covers its five tokens."""
    if tokenization != "aotp_ctt":
        rc, _, _ = decode_cells(tokens, size, tokenization)
        key = np.where(rc[..., 0] >= 0, rc[..., 0] * _CELL_KEY + rc[..., 1], -1)
        return key, key >= 0
    n, width = tokens.shape
    starts = np.zeros((n, width), dtype=bool)
    key = np.full((n, width), -1)
    for p in range(width - CTT_WIDTH + 1):  # T iterations of vector work: fine at probe-set sizes
        rc, _ = _decode_ctt(tokens[:, p : p + CTT_WIDTH], size, np.full(n, CTT_WIDTH))
        formed = rc[:, 0, 0] >= 0
        starts[:, p] = formed
        key[formed, p : p + CTT_WIDTH] = (rc[formed, 0, 0] * _CELL_KEY + rc[formed, 0, 1])[:, None]
    last = np.zeros_like(starts)
    last[:, CTT_WIDTH - 1 :] = starts[:, : width - CTT_WIDTH + 1]
    return key, last


def cell_key(rc: np.ndarray) -> np.ndarray:
    """(row, col) int[..., 2] -> the cell key of `token_cells`."""
    return rc[..., 0] * _CELL_KEY + rc[..., 1]
