"""`MazeConfig`: the value that fully describes a distribution of solved, tokenized mazes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

GENERATORS = ("dfs", "wilson", "kruskal", "percolation")
ENDPOINTS = ("any", "deadends")
ADJ_ORDERS = ("shuffled", "sorted")
GRID_MIN, GRID_MAX = 2, 64
# Bump when the bytes a config produces change (generator, tokenizer or cache layout).
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class MazeConfig:
    """A maze distribution.

    grid_n: side of the square lattice (2..64).
    generator: ``dfs`` (randomized depth-first search / recursive backtracker), ``wilson``
        (uniform spanning tree), ``kruskal`` (randomized Kruskal), ``percolation`` (DFS maze plus
        every remaining interior wall opened independently with probability ``p``: mazes with loops).
    p: wall-opening probability for ``percolation`` (ignored, and must be 0, otherwise).
    endpoints: ``any`` (two distinct cells, uniform) or ``deadends`` (both endpoints have one exit).
    min_path_len: minimum number of steps (edges) between origin and target.
    adj_order: ``shuffled`` (edge order and edge direction drawn from the example's stream) or
        ``sorted`` (maze-dataset's SortedCoords order: smaller cell first, edges lexicographic).
    """

    grid_n: int
    generator: str = "dfs"
    p: float = 0.0
    endpoints: str = "any"
    min_path_len: int = 1
    adj_order: str = "shuffled"

    def __post_init__(self) -> None:
        _check_int("grid_n", self.grid_n, GRID_MIN, GRID_MAX)
        _check_choice("generator", self.generator, GENERATORS)
        _check_choice("endpoints", self.endpoints, ENDPOINTS)
        _check_choice("adj_order", self.adj_order, ADJ_ORDERS)
        if not 0.0 <= float(self.p) <= 1.0:
            raise ValueError(f"MazeConfig.p must be in [0, 1], got {self.p!r}")
        if self.generator != "percolation" and self.p != 0.0:
            raise ValueError(
                f"MazeConfig.p={self.p} only applies to generator='percolation' (got {self.generator!r})"
            )
        n_cells = self.grid_n**2
        _check_int("min_path_len", self.min_path_len, 1, n_cells - 1)
        if self.endpoints == "deadends" and self.generator == "percolation" and self.p >= 1.0:
            raise ValueError("MazeConfig: endpoints='deadends' is impossible with p=1 (no dead ends)")

    @property
    def n_cells(self) -> int:
        return self.grid_n * self.grid_n

    def to_dict(self) -> dict:
        return asdict(self)

    def digest(self, **extra) -> str:
        """Stable content hash of the config (plus e.g. seed and count) and the schema version."""
        payload = {"maze": self.to_dict(), "schema": SCHEMA_VERSION, **extra}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def slug(self) -> str:
        """Readable cache-name prefix, e.g. ``maze-g10-dfs``."""
        loops = f"-p{self.p:g}" if self.generator == "percolation" else ""
        return f"maze-g{self.grid_n}-{self.generator}{loops}"


def _check_int(field: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"MazeConfig.{field} must be an integer in [{lo}, {hi}], got {value!r}")


def _check_choice(field: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"MazeConfig.{field} must be one of {list(allowed)}, got {value!r}")
