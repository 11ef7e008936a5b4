"""The path-star graph G(d, l) (Bachmann & Nagarajan, "The Pitfalls of Next-Token Prediction",
ICML 2024; format of ``gregorbachmann/Next-Token-Failures``, re-implemented).

A source (the centre) with ``degree`` d arms; size = l, the number of vertices on a source-to-leaf
path (the paper's ``pathLen``: each arm holds l - 1 vertices beyond the centre). The d (l - 1) edges
(parent, child) are listed in a random order, then the source and a goal leaf; the answer is the
path from the source to the goal (``reverse``: from the goal back to the source). No end token:
the answer has exactly l tokens, as in the paper. Vertex ids are distinct, uniform in 0..n_nodes-1.

Token ids (V = n_nodes, default 50, the paper's numeral tokenizer): vertex v = v, ``|``=V,
``=``=V+1, ``/``=V+2, ``$``=V+3 (the teacherless dummy), ``<pad>``=V+4 (only when sizes are
mixed). Sequence for G(2, 3) (edges (7,3) (3,9) (7,1) (1,4), goal 9)::

    7 3 | 3 9 | 7 1 | 1 4 / 7 9 = 7 3 9           ids: [7, 3, 50, 3, 9, 50, ..., 52, 7, 9, 51, 7, 3, 9]

(3 d (l-1) + 3 prompt tokens, then l answer tokens; ``answer_only`` loss: the answer.)

Under teacher forcing every answer token after the first move is a one-edge lookup from the token
before it (the "Clever Hans" cheat), so a forward model learns those and leaves the first move,
answer token 1, at chance, 1/d; reversed, every move is a lookup and the task is easy.
``teacherless``: the model reads ``$`` at every answer position (`TaskBatch.inputs`), so it must
produce the whole path from the prompt alone; it is decoded in one parallel pass.

Metrics: ``exact``, ``first_step`` (answer token 1: the first hard move, forward), teacher-forced
``first_acc``/``first_loss`` and ``later_acc``/``later_loss`` (answer tokens 2..l-1) and the
Clever-Hans index ``clever_hans`` = later_acc - first_acc (near 1 - 1/d when the cheat is learnt
and the first move is not; near 0 when both are solved or neither).
"""

from __future__ import annotations

import numpy as np

from search_scaling.tasks.base import Task, TaskBatch, answer_span
from search_scaling.tasks.graphs.reference import shortest_paths
from search_scaling.tasks.graphs.search import move_groups
from search_scaling.tasks.options import bool_option, int_option


class PathStar(Task):
    name = "path_star"
    size_name = "l"
    primary_metric = "exact"
    token_groups = ("first", "later")

    def __init__(self, degree: int = 2, n_nodes: int = 50, reverse: bool = False, teacherless: bool = False,
                 **kw):  # fmt: skip
        super().__init__(**kw)
        self.n_nodes = int_option(self.name, "n_nodes", n_nodes, 3)
        self.degree = int_option(self.name, "degree", degree, 2, self.n_nodes - 1)
        self.reverse = bool_option(self.name, "reverse", reverse)
        self.teacherless = bool_option(self.name, "teacherless", teacherless)
        v = self.n_nodes
        self.bar, self.eq, self.slash, self.dollar, self.pad_id = v, v + 1, v + 2, v + 3, v + 4
        self.size_range = (2, (self.n_nodes - 1) // self.degree + 1)  # 1 + d (l - 1) <= n_nodes

    def vocabulary(self, size: int = 2) -> list[str]:
        return [str(i) for i in range(self.n_nodes)] + ["|", "=", "/", "$", "<pad>"]

    def max_len(self, size: int) -> int:
        return 3 * self.degree * (size - 1) + 3 + size

    # -- generation ------------------------------------------------------------------------------
    def _generate_size(self, n: int, k: int, size: int, rng: np.random.Generator) -> TaskBatch:
        d, arm = self.degree, k - 1
        ids = np.argsort(rng.random((n, self.n_nodes)), axis=1)[:, : 1 + d * arm]
        source, arms = ids[:, 0], ids[:, 1:].reshape(n, d, arm)
        parents = np.concatenate([np.broadcast_to(source[:, None, None], (n, d, 1)), arms[:, :, :-1]], axis=2)
        edges = np.stack([parents, arms], axis=3).reshape(n, d * arm, 2)
        edges = np.take_along_axis(edges, np.argsort(rng.random((n, d * arm)), axis=1)[:, :, None], axis=1)
        goal_arm = arms[np.arange(n), rng.integers(0, d, size=n)]  # [n, l - 1]
        path = np.concatenate([source[:, None], goal_arm], axis=1)
        return self._batch(edges, path, size)

    def _batch(self, edges: np.ndarray, path: np.ndarray, size: int) -> TaskBatch:
        """edges int[n, m, 2] in listed order, path int[n, l] source first -> the padded batch."""
        n, m = edges.shape[:2]
        seq = self._encode(edges, path)
        tokens = np.full((n, self.max_len(size)), self.pad_id, dtype=np.int64)
        tokens[:, : seq.shape[1]] = seq
        prompt, length = 3 * m + 3, seq.shape[1]
        mask = np.zeros(tokens.shape, dtype=bool)
        mask[:, prompt:length] = True
        inputs = None
        if self.teacherless:
            inputs = tokens.copy()
            inputs[:, prompt:length] = self.dollar
        edge_at = np.full((n, self.degree * (size - 1)), -1, dtype=np.int64)
        edge_at[:, :m] = 3 * np.arange(m)
        n_moves = np.full(n, path.shape[1] - 1)
        extras = {"token_group": move_groups(n_moves, size), "edge_at": edge_at, "n_moves": n_moves}
        k = path.shape[1]
        return TaskBatch(tokens, mask, np.full(n, prompt), np.full(n, length), np.full(n, k), extras, inputs)

    def _encode(self, edges: np.ndarray, path: np.ndarray) -> np.ndarray:
        n, m = edges.shape[:2]
        body = np.concatenate([edges, np.full((n, m, 1), self.bar)], axis=2).reshape(n, 3 * m)[:, :-1]
        query = np.stack([np.full(n, self.slash), path[:, 0], path[:, -1], np.full(n, self.eq)], axis=1)
        answer = path[:, ::-1] if self.reverse else path
        return np.concatenate([body, query, answer], axis=1).astype(np.int64)

    def encode_example(self, edges, source: int, goal: int) -> list[int]:
        """The ids of one example, edges (parent, child) in the order given, e.g.
        ``encode_example(edges=[(7, 3), (3, 9), (7, 1), (1, 4)], source=7, goal=9)``."""
        edges = [(int(u), int(v)) for u, v in edges]
        if not edges or any(not 0 <= x < self.n_nodes for e in edges for x in e):
            raise ValueError(f"path_star: edges must join vertex ids in 0..{self.n_nodes - 1}")
        count, path = shortest_paths(edges, int(source), int(goal))
        if count != 1:
            raise ValueError(f"path_star: no single path from {source} to {goal} along the edges")
        return self._encode(np.array([edges]), np.array([path]))[0].tolist()

    # -- scoring ---------------------------------------------------------------------------------
    def _score_extra(self, batch: TaskBatch, completions: np.ndarray) -> dict[str, np.ndarray]:
        want = answer_span(batch, completions.shape[1])[0]
        return {"first_step": (completions[:, 1] == want[:, 1]).astype(float)}

    def summary_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        if "first_acc" in metrics and "later_acc" in metrics:
            return {"clever_hans": metrics["later_acc"] - metrics["first_acc"]}
        return {}
