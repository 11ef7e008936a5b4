"""Sequential composition in the dihedral group D3 (order 6), answer-only loss.

Elements are permutations of {0, 1, 2} in one-line notation, with ids: e=0 (0,1,2), r=1 (1,2,0),
r2=2 (2,0,1), s=3 (0,2,1), sr=4 (2,1,0), sr2=5 (1,0,2). Composition (a o b)(i) = a(b(i)).
Specials: <start>=6, <op>=7, <predict>=8, <pad>=9.

Sequence ``<start> e0 (<op> op_i) x k <predict> ea`` (2k + 4 ids) with s_0 = e0,
s_i = op_i o s_{i-1}, ea = s_k. Size = k_max (k in 1..k_max mixed; ``sampling="k2"`` weights
P(k) ~ k^2, the difficulty weighting of "Training a Transformer to Compose One Step Per Layer").
``answer_only`` puts the loss on the output at <predict>, i.e. the target ea. Exact accuracy is
also reported per composition count, ``exact_k_<k>`` (the staircases of the one-step-per-layer
study are read per k).
"""

from __future__ import annotations

import numpy as np

from search_scaling.tasks.base import Task, TaskBatch

ELEMENTS = {
    "e": (0, 1, 2),
    "r": (1, 2, 0),
    "r2": (2, 0, 1),
    "s": (0, 2, 1),
    "sr": (2, 1, 0),
    "sr2": (1, 0, 2),
}
NAMES = list(ELEMENTS)
START, OP, PREDICT, PAD = 6, 7, 8, 9
_PERMS = [ELEMENTS[name] for name in NAMES]
# COMPOSE[a, b] = id of a o b
COMPOSE = np.array([[_PERMS.index(tuple(pa[pb[i]] for i in range(3))) for pb in _PERMS] for pa in _PERMS])


class D3(Task):
    name = "d3"
    size_name = "k_max"
    size_range = (1, 256)
    default_sampling = "uniform"
    primary_metric = "exact"
    pad_id = PAD
    stratum = ("k", "k")  # exact_k_<k>: exact accuracy of the chains of k compositions

    def vocabulary(self, size: int = 1) -> list[str]:
        return NAMES + ["<start>", "<op>", "<predict>", "<pad>"]

    def max_len(self, size: int) -> int:
        return 2 * size + 4

    def _generate_size(self, n: int, k: int, size: int, rng: np.random.Generator) -> TaskBatch:
        e0, ops = rng.integers(0, 6, size=n), rng.integers(0, 6, size=(n, k))
        seqs = _encode(e0, ops)
        tokens = np.full((n, 2 * size + 4), PAD, dtype=np.int64)
        tokens[:, : 2 * k + 4] = seqs
        mask = np.zeros(tokens.shape, dtype=bool)
        mask[:, 2 * k + 3] = True
        k_of = {"k": np.full(n, k)}
        return TaskBatch(tokens, mask, np.full(n, 2 * k + 3), np.full(n, 2 * k + 4), np.full(n, k), k_of)

    def encode_example(self, e0: str, ops: list[str]) -> list[int]:
        """e.g. ``encode_example(e0="r", ops=["s", "r"])`` -> 2k + 4 ids ending with the answer."""
        unknown = [x for x in [e0, *ops] if x not in ELEMENTS]
        if unknown:
            raise ValueError(f"d3: unknown element {unknown[0]!r}; allowed: {NAMES}")
        if not ops:
            raise ValueError("d3: ops must hold at least one element")
        return _encode(np.array([NAMES.index(e0)]), np.array([[NAMES.index(o) for o in ops]]))[0].tolist()


def _encode(e0: np.ndarray, ops: np.ndarray) -> np.ndarray:
    n, k = ops.shape
    state = e0.copy()
    for i in range(k):
        state = COMPOSE[ops[:, i], state]  # s_i = op_i o s_{i-1}
    body = np.stack([np.full((n, k), OP), ops], axis=2).reshape(n, 2 * k)
    cols = [np.full((n, 1), START), e0[:, None], body, np.full((n, 1), PREDICT), state[:, None]]
    return np.concatenate(cols, axis=1).astype(np.int64)
