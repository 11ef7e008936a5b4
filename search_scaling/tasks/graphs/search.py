"""Graph search (Saparov et al., "Transformers Struggle to Learn to Search", ICLR 2025).

A DAG is given as a shuffled edge list, then a start and a goal; the answer is the shortest path
from the start to the goal (unique: graphs with several shortest paths are redrawn), then <end>.
Size = N, the most vertices a graph may have (and the most edges, as in the paper's ``max_edges``).
Vertex ids are a fresh random permutation of 0..N-1 per example.

Token ids (N = size): ``E``=0, ``Q``=1, ``P``=2, ``<end>``=3, ``<pad>``=4, vertex v = 5 + v. The
specials come first so that a smaller size's vocabulary is a prefix of a larger one's. Sequence::

    E u1 v1 E u2 v2 ... E um vm Q s g P s x1 ... g <end> <pad> ...

(3m + 4 prompt tokens; the answer repeats the start, as the paper's path prefix does, so the first
*move* is answer token 1). Length at most 4N + 5. ``answer_only`` loss: the path and <end>.

Options: ``distribution`` (`naive`: random DAGs, lookahead mostly 0-2; `star`: star graphs with
spokes of 1..max_lookahead; `balanced`: the lookahead L of the first move uniform over
0..max_lookahead, graphs built around it and redrawn until their measured lookahead is L; see
`dag`), ``max_lookahead`` (1..(N-1)//2, default (N-1)//2: a path and a distractor branch of L
edges need 2L + 1 vertices; `naive` accepts it and ignores it, so train_options can swap the
distribution alone). A smaller size mixed in by ``sampling`` caps it at its own (k-1)//2.

Metrics: ``exact`` path, ``first_step`` (the first move right), ``valid`` (a walk along edges from
the start to the goal, closed by <end>, shortest or not), ``exact_look_<L>`` / ``first_look_<L>``
per lookahead of the example's first move (extras ``lookahead``), and teacher-forced
``first_loss``/``first_acc`` (the first move) and ``later_loss``/``later_acc`` (later moves).
"""

from __future__ import annotations

import numpy as np

from search_scaling.tasks.base import Task, TaskBatch, answer_span
from search_scaling.tasks.graphs import dag
from search_scaling.tasks.graphs.reference import shortest_paths
from search_scaling.tasks.options import int_option

E, Q, P, END, PAD = 0, 1, 2, 3, 4
VERTEX0 = 5
DISTRIBUTIONS = ("naive", "star", "balanced")
MAX_ROUNDS = 200  # rejection rounds before giving up (a balanced batch needs a handful)


class GraphSearch(Task):
    name = "graph_search"
    size_name = "N"
    size_range = (3, 128)
    primary_metric = "exact"
    pad_id = PAD
    token_groups = ("first", "later")
    stratum = ("look", "lookahead")  # exact_look_<L>

    def __init__(self, distribution: str = "balanced", max_lookahead: int | None = None, **kw):
        super().__init__(**kw)
        if distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"graph_search.distribution must be one of {list(DISTRIBUTIONS)}, got {distribution!r}"
            )
        self.distribution = distribution
        self.max_lookahead = None if max_lookahead is None else int_option(
            self.name, "max_lookahead", max_lookahead, 1
        )  # fmt: skip

    def check_size(self, size: int) -> None:
        super().check_size(size)
        hi = (size - 1) // 2
        if self.max_lookahead is not None and self.max_lookahead > hi:
            raise ValueError(
                f"graph_search.max_lookahead must be an integer in [1, {hi}] for graphs of at most "
                f"N={size} vertices (a path and a distractor branch of L edges need 2L + 1 vertices), "
                f"got {self.max_lookahead}"
            )

    def lookahead_cap(self, k: int) -> int:
        """The largest lookahead drawn at size k."""
        return (k - 1) // 2 if self.max_lookahead is None else min(self.max_lookahead, (k - 1) // 2)

    def vocabulary(self, size: int) -> list[str]:
        return ["E", "Q", "P", "<end>", "<pad>"] + [str(v) for v in range(size)]

    def max_len(self, size: int) -> int:
        return 4 * size + 5

    # -- generation ------------------------------------------------------------------------------
    def _generate_size(self, n: int, k: int, size: int, rng: np.random.Generator) -> TaskBatch:
        graphs, measured = self.draw(n, k, rng)
        return self._encode(graphs, measured, size, rng)

    def draw(self, n: int, k: int, rng: np.random.Generator) -> tuple[dag.Graphs, dag.Measured]:
        """n graphs of at most k vertices that pass the rejections: at most k edges, one shortest
        start-goal path and (balanced) the requested lookahead. Rejected graphs are redrawn."""
        cap = self.lookahead_cap(k)
        want = rng.integers(0, cap + 1, size=n) if self.distribution == "balanced" else None
        out_g = dag.Graphs(np.zeros((n, k, k), bool), *(np.zeros(n, np.int64) for _ in range(3)))
        out_m = dag.Measured(np.zeros((n, k), np.int64), np.zeros(n, bool), np.zeros((n, k), np.int64),
                             np.zeros(n, np.int64), np.zeros(n, np.int64))  # fmt: skip
        todo = np.arange(n)
        for _ in range(MAX_ROUNDS):
            g = self._attempt(len(todo), k, cap, None if want is None else want[todo], rng)
            m = dag.measure(g)
            ok = m.unique & (g.adj.sum(axis=(1, 2)) <= k)
            if want is not None:
                ok &= m.lookahead == want[todo]
            for dst, src in ((out_g, g), (out_m, m)):
                for key, value in vars(src).items():
                    getattr(dst, key)[todo[ok]] = value[ok]
            todo = todo[~ok]
            if not len(todo):
                return out_g, out_m
        raise RuntimeError(f"graph_search: {len(todo)} of {n} graphs still rejected after {MAX_ROUNDS} tries")

    def _attempt(self, m: int, k: int, cap: int, want, rng) -> dag.Graphs:
        if self.distribution == "naive":
            return dag.naive(m, k, rng)
        if self.distribution == "star":
            return dag.star(m, k, cap, rng)
        return dag.balanced(want, k, rng)

    def _encode(self, g: dag.Graphs, me: dag.Measured, size: int, rng) -> TaskBatch:
        n, k = g.adj.shape[:2]
        rows = np.arange(n)
        ids = np.argsort(rng.random((n, k)), axis=1)  # ids[b, v]: the id of vertex v
        b, u, v = np.nonzero(g.adj)
        order = np.lexsort((rng.random(len(b)), b))  # each graph's edges in a random order
        b, u, v = b[order], u[order], v[order]
        n_edges = np.bincount(b, minlength=n)
        rank = np.arange(len(b)) - (np.cumsum(n_edges) - n_edges)[b]
        tokens = np.full((n, self.max_len(size)), PAD, dtype=np.int64)
        tokens[b, 3 * rank] = E
        tokens[b, 3 * rank + 1], tokens[b, 3 * rank + 2] = VERTEX0 + ids[b, u], VERTEX0 + ids[b, v]
        q = 3 * n_edges
        start_id, goal_id = VERTEX0 + ids[rows, g.start], VERTEX0 + ids[rows, g.goal]
        query = np.stack([np.full(n, Q), start_id, goal_id, np.full(n, P)], axis=1)  # Q s g P
        np.put_along_axis(tokens, q[:, None] + np.arange(4)[None, :], query, axis=1)
        prompt_len = q + 4
        j = np.arange(k)[None, :]
        on_path = j < me.path_len[:, None]
        pb, pj = np.nonzero(on_path)
        tokens[pb, prompt_len[pb] + pj] = VERTEX0 + ids[pb, me.path[pb, pj]]
        tokens[rows, prompt_len + me.path_len] = END
        length = prompt_len + me.path_len + 1
        pos = np.arange(tokens.shape[1])[None, :]
        mask = (pos >= prompt_len[:, None]) & (pos < length[:, None])
        adjacency = np.zeros((n, size, size), dtype=bool)
        adjacency[b, ids[b, u], ids[b, v]] = True
        edge_at = np.full((n, size), -1, dtype=np.int64)
        edge_at[b, rank] = 3 * rank + 1
        moves = me.path_len - 1
        extras = {"lookahead": me.lookahead.copy(), "adjacency": adjacency, "edge_at": edge_at,
                  "n_moves": moves, "token_group": move_groups(moves, size + 1)}  # fmt: skip
        return TaskBatch(tokens, mask, prompt_len, length, np.full(n, k), extras)

    def encode_example(self, edges, start: int, goal: int) -> list[int]:
        """The ids of one example, edges in the order given, e.g.
        ``encode_example(edges=[(0, 1), (1, 2), (0, 3)], start=0, goal=2)``."""
        edges = [(int(u), int(v)) for u, v in edges]
        vertices = {x for e in edges for x in e} | {int(start), int(goal)}
        if min(vertices) < 0 or start == goal:
            raise ValueError("graph_search: vertices must be ids >= 0 and the start must not be the goal")
        count, path = shortest_paths(edges, int(start), int(goal))
        if count != 1:
            raise ValueError(f"graph_search: {count} shortest paths from {start} to {goal}; needs one")
        ids = [x for u, v in edges for x in (E, VERTEX0 + u, VERTEX0 + v)]
        return ids + [Q, VERTEX0 + start, VERTEX0 + goal, P] + [VERTEX0 + x for x in path] + [END]

    # -- scoring ---------------------------------------------------------------------------------
    def _score_extra(self, batch: TaskBatch, completions: np.ndarray) -> dict[str, np.ndarray]:
        want = answer_span(batch, completions.shape[1])[0]
        first = (completions[:, 1] == want[:, 1]).astype(float)
        look = batch.extras["lookahead"]
        out = {"first_step": first, "valid": self._valid(batch, completions)}
        out.update({f"first_look_{k}": np.where(look == k, first, np.nan) for k in np.unique(look)})
        return out

    def _valid(self, batch: TaskBatch, completions: np.ndarray) -> np.ndarray:
        """A walk from the start along edges that ends at the goal and then says <end>."""
        n, w = completions.shape
        rows = np.arange(n)
        adjacency = batch.extras["adjacency"]
        is_end = completions == END
        ended = is_end.any(axis=1)
        n_before = np.where(ended, is_end.argmax(axis=1), w)
        vertex = completions - VERTEX0
        inside = (vertex >= 0) & (vertex < adjacency.shape[1])
        used = np.arange(w)[None, :] < n_before[:, None]
        safe = np.where(inside, vertex, 0)
        steps = adjacency[rows[:, None], safe[:, :-1], safe[:, 1:]] & inside[:, :-1] & inside[:, 1:]
        walk = np.all(inside | ~used, axis=1) & np.all(steps | ~used[:, 1:], axis=1)
        start, goal = batch.tokens[rows, batch.prompt_len - 3], batch.tokens[rows, batch.prompt_len - 2]
        last = completions[rows, np.maximum(n_before - 1, 0)]
        return (ended & (n_before >= 2) & walk & (completions[:, 0] == start) & (last == goal)).astype(float)


def move_groups(n_moves: np.ndarray, width: int) -> np.ndarray:
    """token_group int8[n, width] by answer offset: 1 (``first``) for the first move, 2 (``later``)
    for the moves after it, 0 for the repeated start and anything after the last move."""
    j = np.arange(width)[None, :]
    return np.where(j == 1, 1, np.where((j >= 2) & (j <= n_moves[:, None]), 2, 0)).astype(np.int8)
