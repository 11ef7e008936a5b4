"""`MazeConfig`: the value that fully describes a distribution of solved, tokenized mazes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

GENERATORS = ("dfs", "wilson", "kruskal", "percolation")
ENDPOINTS = ("any", "deadends", "balanced")
ADJ_ORDERS = ("shuffled", "sorted")
GRID_MIN, GRID_MAX = 2, 64
BALANCED_GRID_MAX = 16  # balanced endpoints count decisions for all N^2 pairs of a maze
# Bump when the bytes a config produces change (generator, tokenizer or cache layout).
SCHEMA_VERSION = 1  # max_decisions (None unless balanced) is left out of the digest when None


@dataclass(frozen=True)
class MazeConfig:
    """A maze distribution.

    grid_n: side of the square lattice (2..64).
    generator: ``dfs`` (randomized depth-first search / recursive backtracker), ``wilson``
        (uniform spanning tree), ``kruskal`` (randomized Kruskal), ``percolation`` (DFS maze plus
        every remaining interior wall opened independently with probability ``p``: mazes with loops).
    p: wall-opening probability for ``percolation`` (ignored, and must be 0, otherwise).
    endpoints: ``any`` (two distinct cells, uniform), ``deadends`` (both endpoints have one exit) or
        ``balanced``: the number of decisions on the path (see `decisions.py`) is uniform over
        ``lo..max_decisions``, then the pair is uniform among the maze's pairs with that count
        (Saparov et al. 2025 balance the lookahead the same way). lo is 0 on small grids.
    max_decisions: for ``balanced``, the largest decision count drawn (default: the largest that a
        random maze of this size and generator offers in 30% of cases; see `feasible_decisions`).
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
    max_decisions: int | None = None

    def __post_init__(self) -> None:
        _check_int("grid_n", self.grid_n, GRID_MIN, GRID_MAX)
        _check_choice("generator", self.generator, GENERATORS)
        _check_choice("endpoints", self.endpoints, ENDPOINTS)
        _check_choice("adj_order", self.adj_order, ADJ_ORDERS)
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0.0 <= self.p <= 1.0:
            raise ValueError(f"MazeConfig.p must be in [0, 1], got {self.p!r}")
        if self.generator != "percolation" and self.p != 0.0:
            raise ValueError(
                f"MazeConfig.p={self.p} only applies to generator='percolation' (got {self.generator!r})"
            )
        n_cells = self.grid_n**2
        _check_int("min_path_len", self.min_path_len, 1, n_cells - 1)
        if self.endpoints == "deadends" and self.generator == "percolation" and self.p >= 1.0:
            raise ValueError("MazeConfig: endpoints='deadends' is impossible with p=1 (no dead ends)")
        self._check_balanced()

    def _check_balanced(self) -> None:
        if self.endpoints != "balanced":
            if self.max_decisions is not None:
                raise ValueError("MazeConfig.max_decisions only applies to endpoints='balanced'")
            return
        if self.grid_n > BALANCED_GRID_MAX:
            raise ValueError(f"MazeConfig: endpoints='balanced' supports grid_n up to {BALANCED_GRID_MAX}, "
                             f"got {self.grid_n}")  # fmt: skip
        lo, hi = self.feasible_decisions()
        if self.max_decisions is not None and (
            isinstance(self.max_decisions, bool) or not isinstance(self.max_decisions, int)
            or not lo <= self.max_decisions <= hi
        ):  # fmt: skip
            raise ValueError(
                f"MazeConfig.max_decisions={self.max_decisions!r} is infeasible for grid_n={self.grid_n} "
                f"(generator {self.generator!r}): feasible range [{lo}, {hi}]"
            )

    def feasible_decisions(self) -> tuple[int, int]:
        """The decision counts a random maze of this distribution offers (see `feasible_decisions`)."""
        from search_scaling.tasks.maze.decisions import feasible_decisions  # imports the generators

        return feasible_decisions(self.generator, self.grid_n, float(self.p), self.min_path_len)

    def decision_range(self) -> tuple[int, int]:
        """The decision counts `endpoints: balanced` draws from, uniformly: (lo, hi) inclusive."""
        lo, hi = self.feasible_decisions()
        return lo, hi if self.max_decisions is None else self.max_decisions

    @property
    def n_cells(self) -> int:
        return self.grid_n * self.grid_n

    def to_dict(self) -> dict:
        """Fields that define the distribution; max_decisions only when set, so the digests (and
        cache names) of configs from before it existed do not change."""
        fields = asdict(self)
        if fields["max_decisions"] is None:
            del fields["max_decisions"]
        return fields

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
