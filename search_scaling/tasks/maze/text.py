"""One solved maze as a value, and its AOTP text form: `parse_aotp`, `to_aotp`, `parse_ids`."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from search_scaling.tasks.maze.lattice import is_adjacent
from search_scaling.tasks.maze.tokens import SPECIALS, vocabulary

Coord = tuple[int, int]
_COORD = re.compile(r"^\((\d+),(\d+)\)$")


@dataclass(frozen=True)
class SolvedMaze:
    """A maze with endpoints and path. ``edges`` holds each open connection once, smaller cell
    first, sorted; ``path`` runs from origin to target inclusive."""

    grid_n: int
    edges: tuple[tuple[Coord, Coord], ...]
    origin: Coord
    target: Coord
    path: tuple[Coord, ...]

    @staticmethod
    def build(grid_n, edges, origin, target, path) -> SolvedMaze:
        canon = sorted({tuple(sorted((tuple(a), tuple(b)))) for a, b in edges})
        return SolvedMaze(grid_n, tuple(canon), tuple(origin), tuple(target), tuple(map(tuple, path)))

    @staticmethod
    def from_batch(batch, i: int) -> SolvedMaze:
        """Maze ``i`` of a `MazeBatch` (cells converted to (row, col))."""
        n = batch.config.grid_n

        def rc(cell) -> Coord:
            return tuple(int(v) for v in divmod(int(cell), n))

        down, right = batch.conn[i, 0], batch.conn[i, 1]
        edges = [((int(r), int(c)), (int(r) + 1, int(c))) for r, c in zip(*np.nonzero(down))]
        edges += [((int(r), int(c)), (int(r), int(c) + 1)) for r, c in zip(*np.nonzero(right))]
        path = [rc(x) for x in batch.paths[i, : batch.path_len[i]]]
        return SolvedMaze.build(n, edges, rc(batch.origin[i]), rc(batch.target[i]), path)


def to_aotp(maze: SolvedMaze, shuffle: bool = False, rng: np.random.Generator | None = None) -> str:
    """AOTP text. Unshuffled, this is maze-dataset's sorted form (SortedCoords, no edge shuffle),
    byte for byte; shuffled, the edge order and each edge's direction come from ``rng``."""
    edges = [tuple(sorted(e)) for e in maze.edges]
    edges.sort()
    if shuffle:
        rng = rng or np.random.default_rng()
        edges = [edges[i] if rng.random() < 0.5 else edges[i][::-1] for i in rng.permutation(len(edges))]
    fmt = "({},{})".format
    adj = " ".join(f"{fmt(*a)} <--> {fmt(*b)} ;" for a, b in edges)
    path = " ".join(fmt(*p) for p in maze.path)
    return (
        f"<ADJLIST_START> {adj} <ADJLIST_END> <ORIGIN_START> {fmt(*maze.origin)} <ORIGIN_END> "
        f"<TARGET_START> {fmt(*maze.target)} <TARGET_END> <PATH_START> {path} <PATH_END>"
    )


def parse_aotp(text: str | list[str], grid_n: int | None = None) -> SolvedMaze:
    """Parse AOTP text (or a token list) into a `SolvedMaze`; `<PADDING>` is ignored.

    ``grid_n`` defaults to 1 + the largest coordinate seen. Malformed input raises ValueError naming
    the offending token and its position.
    """
    tokens = text.split() if isinstance(text, str) else list(text)
    tokens = [t for t in tokens if t != "<PADDING>"]
    reader = _Reader(tokens)
    reader.expect("<ADJLIST_START>")
    edges = []
    while reader.peek() != "<ADJLIST_END>":
        a, _, b, _ = reader.coord(), reader.expect("<-->"), reader.coord(), reader.expect(";")
        if not is_adjacent(a, b):
            reader.fail(f"edge {a} <--> {b} joins cells that are not adjacent", reader.pos - 2)
        edges.append((a, b))
    reader.expect("<ADJLIST_END>")
    origin = reader.section("<ORIGIN_START>", "<ORIGIN_END>")
    target = reader.section("<TARGET_START>", "<TARGET_END>")
    reader.expect("<PATH_START>")
    path = []
    while reader.peek() != "<PATH_END>":
        path.append(reader.coord())
    reader.expect("<PATH_END>")
    if reader.pos != len(tokens):
        reader.fail("unexpected token after <PATH_END>", reader.pos)
    seen = [x for e in edges for c in e for x in c] + [*origin, *target] + [x for p in path for x in p]
    n = grid_n if grid_n is not None else max(seen, default=0) + 1
    if max(seen, default=0) >= n:
        raise ValueError(f"coordinate {max(seen)} is outside the {n}x{n} grid")
    return SolvedMaze.build(n, edges, origin, target, path)


def parse_ids(ids, grid_n: int) -> SolvedMaze:
    """Parse token ids (vocabulary of `tokens.vocabulary(grid_n)`)."""
    vocab = vocabulary(grid_n)
    bad = [(i, int(t)) for i, t in enumerate(ids) if not 0 <= int(t) < len(vocab)]
    if bad:
        raise ValueError(
            f"token id {bad[0][1]} at position {bad[0][0]} is outside the vocabulary ({len(vocab)} ids)"
        )
    return parse_aotp([vocab[int(t)] for t in ids], grid_n)


class _Reader:
    """Cursor over a token list that reports errors with the token and its position."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.pos = tokens, 0

    def peek(self) -> str:
        if self.pos >= len(self.tokens):
            self.fail("sequence ended early", self.pos)
        return self.tokens[self.pos]

    def fail(self, why: str, pos: int):
        shown = repr(self.tokens[pos]) if pos < len(self.tokens) else "<end of input>"
        raise ValueError(f"malformed AOTP maze: {why}: token {shown} at position {pos}")

    def expect(self, token: str) -> str:
        if self.peek() != token:
            self.fail(f"expected {token}", self.pos)
        self.pos += 1
        return token

    def coord(self) -> Coord:
        match = _COORD.match(self.peek())
        if not match:
            why = "unknown token" if self.peek() not in SPECIALS else "expected a coordinate like (0,1)"
            self.fail(why, self.pos)
        self.pos += 1
        return int(match.group(1)), int(match.group(2))

    def section(self, start: str, end: str) -> Coord:
        self.expect(start)
        cell = self.coord()
        self.expect(end)
        return cell
