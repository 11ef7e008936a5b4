"""Iteration tasks with chain of thought, in the conventions of facebookresearch/pal
("Iteration Head", Cabannes et al., NeurIPS 2024).

Sequence ``[TASK] x_1 .. x_L [EoI] s_1 .. s_L`` (length 2L + 2), right-padded with EoS to
``2 * L_max + 3``. Values 0..10 are their own token ids; task tokens polynomial = 58, parity = 59,
binary_copy = 60; EoI = 62; EoS = 63; vocabulary size 64.

- binary_copy: x in {0, 1}, s_t = x_t
- parity: x in {0, 1}, s_t = x_1 xor ... xor x_t
- polynomial: x in {1..10}, s_1 = x_1, s_t = (s_{t-1} * x_t + 1) mod 11

Without chain of thought (``cot=False``) the answer s_L sits right after EoI and the remaining
L - 1 positions of the 2L + 2 are EoS. Loss mask as in pal: every target after EoI (CoT tokens and
trailing EoS), nothing at or before EoI. Size = L_max; lengths 1..L_max are mixed.
"""

from __future__ import annotations

import numpy as np

from search_scaling.tasks.base import Task, TaskBatch
from search_scaling.tasks.options import bool_option

TASK_TOKEN = {"polynomial": 58, "parity": 59, "binary_copy": 60}
EOI, EOS, VOCAB_SIZE = 62, 63, 64


class IterationTask(Task):
    size_name = "L_max"
    size_range = (1, 64)
    default_sampling = "uniform"
    primary_metric = "final"
    pad_id = EOS

    def __init__(self, cot: bool = True, **kw):
        super().__init__(**kw)
        self.cot = bool_option(self.name, "cot", cot)

    def vocabulary(self, size: int = 1) -> list[str]:
        names = {v: k for k, v in TASK_TOKEN.items()} | {EOI: "EoI", EOS: "EoS"}
        return [names.get(i, str(i) if i <= 10 else f"<unused{i}>") for i in range(VOCAB_SIZE)]

    def max_len(self, size: int) -> int:
        return 2 * size + 3

    def states(self, x: np.ndarray) -> np.ndarray:
        """s[:, t] from x[:, :t+1]: int[n, L]."""
        raise NotImplementedError

    def draw_inputs(self, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 2, size=(n, k))

    def _generate_size(self, n: int, k: int, size: int, rng: np.random.Generator) -> TaskBatch:
        x = self.draw_inputs(n, k, rng)
        seqs = self._encode(x, self.cot)
        width = 2 * size + 3
        tokens = np.full((n, width), EOS, dtype=np.int64)
        tokens[:, : seqs.shape[1]] = seqs
        mask = np.zeros((n, width), dtype=bool)
        mask[:, k + 2 :] = True  # every target after EoI (EoI sits at index k + 1)
        answer_end = 2 * k + 2 if self.cot else k + 3  # scored span: CoT s_1..s_L; no CoT s_L only
        return TaskBatch(tokens, mask, np.full(n, k + 2), np.full(n, answer_end), np.full(n, k))

    def _encode(self, x: np.ndarray, cot: bool) -> np.ndarray:
        n, k = x.shape
        s = self.states(x)
        answer = s if cot else np.concatenate([s[:, -1:], np.full((n, k - 1), EOS)], axis=1)
        head = np.full((n, 1), TASK_TOKEN[self.name])
        return np.concatenate([head, x, np.full((n, 1), EOI), answer], axis=1).astype(np.int64)

    def encode_example(self, x, cot: bool | None = None) -> list[int]:
        """The 2L + 2 ids of one example, e.g. ``encode_example(x=[1, 0, 1], cot=True)``."""
        arr = np.asarray(x, dtype=np.int64).reshape(1, -1)
        if arr.size == 0:
            raise ValueError(f"{self.name}: x must hold at least one value")
        self._check_inputs(arr)
        return self._encode(arr, self.cot if cot is None else bool(cot))[0].tolist()

    def _check_inputs(self, x: np.ndarray) -> None:
        if np.any((x < 0) | (x > 1)):
            raise ValueError(f"{self.name}: x values must be 0 or 1, got {x.ravel().tolist()}")

    def _score_extra(self, batch: TaskBatch, completions: np.ndarray) -> dict[str, np.ndarray]:
        """``final``: the last state s_L is right (CoT: at offset L - 1; no CoT: offset 0)."""
        k = batch.size
        offset = k - 1 if self.cot else np.zeros_like(k)
        want = batch.tokens[np.arange(len(k)), batch.prompt_len + offset]
        got = completions[np.arange(len(k)), np.minimum(offset, completions.shape[1] - 1)]
        return {"final": (got == want).astype(float)}


class BinaryCopy(IterationTask):
    name = "binary_copy"

    def states(self, x):
        return x.copy()


class Parity(IterationTask):
    name = "parity"

    def states(self, x):
        return np.cumsum(x, axis=1) % 2


class Polynomial(IterationTask):
    name = "polynomial"

    def draw_inputs(self, n, k, rng):
        return rng.integers(1, 11, size=(n, k))

    def _check_inputs(self, x):
        if np.any((x < 1) | (x > 10)):
            raise ValueError(f"polynomial: x values must be in 1..10, got {x.ravel().tolist()}")

    def states(self, x):
        s = np.empty_like(x)
        s[:, 0] = x[:, 0]
        for t in range(1, x.shape[1]):  # a recurrence: inherently sequential in t, vectorised over n
            s[:, t] = (s[:, t - 1] * x[:, t] + 1) % 11
        return s
