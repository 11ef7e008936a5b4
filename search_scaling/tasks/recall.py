"""In-context retrieval tasks: induction heads and associative recall.

**induction** (Olsson et al. 2022; Singh et al. 2024): ``[BOS] r_1..r_n r_1..r_n`` with r_i drawn
without replacement from V ordinary tokens (ids 0..V-1), BOS = V. Loss and per-token accuracy on the
second half from its second token on (the first repeated token is not predictable). Size = n.

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

    def __init__(self, n_vocab: int = 64, **kw):
        super().__init__(**kw)
        self.n_vocab = int_option(self.name, "n_vocab", n_vocab, 2)
        self.size_range = (2, self.n_vocab)
        self.pad_id = self.n_vocab  # lengths are fixed per size, so padding never appears in practice

    def vocabulary(self, size: int = 2) -> list[str]:
        return [str(i) for i in range(self.n_vocab)] + ["<bos>"]

    def max_len(self, size: int) -> int:
        return 2 * size + 1

    def _generate_size(self, n, k, size, rng) -> TaskBatch:
        r = _distinct(n, k, self.n_vocab, rng)
        seqs = self._encode(r)
        tokens = np.full((n, 2 * size + 1), self.pad_id, dtype=np.int64)
        tokens[:, : 2 * k + 1] = seqs
        mask = np.zeros(tokens.shape, dtype=bool)
        mask[:, k + 2 : 2 * k + 1] = True
        return TaskBatch(tokens, mask, np.full(n, k + 2), np.full(n, 2 * k + 1), np.full(n, k))

    def _encode(self, r: np.ndarray) -> np.ndarray:
        return np.concatenate([np.full((len(r), 1), self.n_vocab), r, r], axis=1).astype(np.int64)

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
