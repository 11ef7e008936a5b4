"""In-context retrieval tasks: induction heads and associative recall.

**induction** (Olsson et al. 2022; Singh et al. 2024): ``[BOS] r_1..r_n r_1..r_n`` with r_i drawn
without replacement from V ordinary tokens (ids 0..V-1), BOS = V. Loss and per-token accuracy on the
second half from its second token on (the first repeated token is not predictable). Size = n.
``filler: F`` (default 0) adds F more distinct random tokens, a random number p (uniform over
0..F) of them before the first copy and the rest between the copies:
``[BOS] f_1..f_p r_1..r_n f_p+1..f_F r_1..r_n``. Without filler a model needs no induction head:
the copy sits a fixed n positions back (attention by position finds it), and, the tokens being
distinct, the next token is the earliest one of the first half not yet repeated (a layer that
gathers the context's tokens with a bias to early positions and a layer that suppresses those
already repeated: loss 0 with prefix matching at chance, measured on mixed n). With filler the
distance to the copy varies and the earliest unrepeated token is usually filler, so matching the
current token's earlier occurrence and reading its successor is the one general solution.

**assoc_recall**: ``<bos> k_1 v_1 .. k_N v_N <q> k_q v_q`` with distinct keys (ids 0..K-1), values
(ids K..K+V-1, drawn with replacement), ``<bos>`` = K+V, ``<q>`` = K+V+1; the answer v_q is the value
paired with the queried key; answer-only loss. Size = N.
"""

from __future__ import annotations

import numpy as np

from search_scaling.tasks.base import Task, TaskBatch
from search_scaling.tasks.options import int_option


def _distinct(n: int, k: int, pool: int, rng: np.random.Generator) -> np.ndarray:
    """n rows of k distinct values from range(pool): int[n, k] (random keys, then argsort)."""
    return np.argsort(rng.random((n, pool)), axis=1)[:, :k]


class Induction(Task):
    name = "induction"
    size_name = "n"
    primary_metric = "token_acc"

    def __init__(self, n_vocab: int = 64, filler: int = 0, **kw):
        super().__init__(**kw)
        self.n_vocab = int_option(self.name, "n_vocab", n_vocab, 2)
        self.filler = int_option(self.name, "filler", filler, 0, self.n_vocab - 2)
        self.size_range = (2, self.n_vocab - self.filler)  # every token of an example is distinct
        self.pad_id = self.n_vocab  # lengths are fixed per size, so padding never appears in practice

    def vocabulary(self, size: int = 2) -> list[str]:
        return [str(i) for i in range(self.n_vocab)] + ["<bos>"]

    def max_len(self, size: int) -> int:
        return 2 * size + 1 + self.filler

    def _generate_size(self, n, k, size, rng) -> TaskBatch:
        drawn = _distinct(n, k + self.filler, self.n_vocab, rng)  # [n, k + F]: r, then the filler
        before = rng.integers(0, self.filler + 1, size=n) if self.filler else np.zeros(n, int)
        seqs = self._encode(drawn[:, :k], drawn[:, k:], before)
        width, copy = 2 * k + 1 + self.filler, k + 1 + self.filler  # copy: where the repeat starts
        tokens = np.full((n, 2 * size + 1 + self.filler), self.pad_id, dtype=np.int64)
        tokens[:, :width] = seqs
        mask = np.zeros(tokens.shape, dtype=bool)
        mask[:, copy + 1 : width] = True
        return TaskBatch(tokens, mask, np.full(n, copy + 1), np.full(n, width), np.full(n, k))

    def _encode(self, r: np.ndarray, fill: np.ndarray | None = None, before: np.ndarray | None = None):
        """[BOS] fill[:p] r fill[p:] r per row: r int[n, k], fill int[n, F], before (p) int[n]."""
        n, k = r.shape
        fill = np.zeros((n, 0), np.int64) if fill is None else fill
        before = np.zeros(n, int) if before is None else before
        f, q, p = fill.shape[1], np.arange(k + fill.shape[1] + k)[None, :], before[:, None]
        source = np.concatenate([r, fill], axis=1)  # [n, k + F]: index j < k is r_j, k + j is fill_j
        index = np.select([q < p, q < p + k, q < f + k], [k + q, q - p, q], default=q - f - k)
        body = np.take_along_axis(source, index, axis=1)
        return np.concatenate([np.full((n, 1), self.n_vocab), body], axis=1).astype(np.int64)

    def encode_example(self, r) -> list[int]:
        arr = np.asarray(r, dtype=np.int64).reshape(1, -1)
        if (
            arr.size < 1
            or len(set(arr[0].tolist())) != arr.size
            or arr.min() < 0
            or arr.max() >= self.n_vocab
        ):
            raise ValueError(
                f"induction: r must be distinct ids in 0..{self.n_vocab - 1}, got {arr[0].tolist()}"
            )
        return self._encode(arr)[0].tolist()


class AssocRecall(Task):
    name = "assoc_recall"
    size_name = "N"

    def __init__(self, n_keys: int = 32, n_values: int = 32, **kw):
        super().__init__(**kw)
        self.n_keys = int_option(self.name, "n_keys", n_keys, 1)
        self.n_values = int_option(self.name, "n_values", n_values, 1)
        self.bos, self.query = self.n_keys + self.n_values, self.n_keys + self.n_values + 1
        self.size_range = (1, self.n_keys)
        self.pad_id = self.bos

    def vocabulary(self, size: int = 1) -> list[str]:
        keys = [f"k{i}" for i in range(self.n_keys)]
        return keys + [f"v{i}" for i in range(self.n_values)] + ["<bos>", "<q>"]

    def max_len(self, size: int) -> int:
        return 2 * size + 4

    def _generate_size(self, n, k, size, rng) -> TaskBatch:
        keys = _distinct(n, k, self.n_keys, rng)
        values = self.n_keys + rng.integers(0, self.n_values, size=(n, k))
        pick = rng.integers(0, k, size=n)
        seqs = self._encode(keys, values, pick)
        tokens = np.full((n, 2 * size + 4), self.pad_id, dtype=np.int64)
        tokens[:, : 2 * k + 4] = seqs
        mask = np.zeros(tokens.shape, dtype=bool)
        mask[:, 2 * k + 3] = True
        return TaskBatch(tokens, mask, np.full(n, 2 * k + 3), np.full(n, 2 * k + 4), np.full(n, k))

    def _encode(self, keys, values, pick) -> np.ndarray:
        n, k = keys.shape
        rows = np.arange(n)
        pairs = np.stack([keys, values], axis=2).reshape(n, 2 * k)
        cols = [
            np.full((n, 1), self.bos),
            pairs,
            np.full((n, 1), self.query),
            keys[rows, pick][:, None],
            values[rows, pick][:, None],
        ]
        return np.concatenate(cols, axis=1).astype(np.int64)

    def encode_example(self, keys, values, query) -> list[int]:
        """``keys``: distinct key ids (0..K-1); ``values``: value ids (K..K+V-1); ``query``: a key."""
        keys, values = list(keys), list(values)
        if len(keys) != len(values) or not keys or len(set(keys)) != len(keys):
            raise ValueError("assoc_recall: keys must be distinct, non-empty and as many as values")
        if not all(0 <= k < self.n_keys for k in keys) or not all(
            self.n_keys <= v < self.bos for v in values
        ):
            raise ValueError(
                f"assoc_recall: keys in 0..{self.n_keys - 1}, values in {self.n_keys}..{self.bos - 1}"
            )
        if query not in keys:
            raise ValueError(f"assoc_recall: query {query} is not one of the keys {keys}")
        arr = np.array
        return self._encode(arr([keys]), arr([values]), arr([keys.index(query)]))[0].tolist()
