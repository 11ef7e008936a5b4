"""Held-out evaluation of every member of a pack at once: one batched teacher-forced forward and
one batched greedy decode (KV cache) for all members, then each member's metrics from its own
slice with `evaluate`'s own pieces, so a member's metrics are those `evaluate` gives its model alone.

All members share the held-out set (it depends on the task, its options and size only).
"""

from __future__ import annotations

import numpy as np
import torch

from search_scaling.models.transformer import KVCache
from search_scaling.tasks import Task, TaskBatch
from search_scaling.training.evaluate import _subset, _teacher_forced, autocast_for, decode, summarise
from search_scaling.training.pack import PackedTransformer

ROWS_PER_CALL = 1024  # members x examples per batched call: bounds the logits' memory


class FlatPack:
    """The pack as one model over K*n rows (member k owns rows k*n .. k*n+n-1), so that
    `greedy_decode` drives it unchanged. The `KVCache` it is handed holds the rows flattened the
    same way: [K*n, head, pos, d_head] per layer."""

    def __init__(self, packed: PackedTransformer):
        self.packed, self.cfg = packed, packed.cfg

    def __call__(self, tokens: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        k = self.packed.size
        rows = tokens.reshape(k, -1, tokens.shape[-1])  # [K, n, t]
        if cache is None:
            return self.packed(rows).flatten(0, 1)
        split = lambda xs: [x.reshape(k, -1, *x.shape[1:]) for x in xs]  # noqa: E731
        logits, keys, values = self.packed.step_with_cache(rows, split(cache.keys), split(cache.values))
        cache.keys, cache.values = [x.flatten(0, 1) for x in keys], [x.flatten(0, 1) for x in values]
        return logits.flatten(0, 1)


@torch.no_grad()
def evaluate_pack(packed: PackedTransformer, task: Task, batch: TaskBatch,
                  precision: str = "32-true") -> list[dict[str, float]]:  # fmt: skip
    """`evaluate` for each member of ``packed`` on ``batch``: one metrics dict per member."""
    device = packed.params[0].device
    members = packed.size
    sums: list[dict[str, float]] = [{} for _ in range(members)]
    per_example: list[dict[str, list[np.ndarray]]] = [{} for _ in range(members)]
    chunk = max(1, ROWS_PER_CALL // members)
    with autocast_for(device, precision):
        for lo in range(0, len(batch), chunk):
            idx = np.arange(lo, min(lo + chunk, len(batch)))
            _forced(packed, task, batch, idx, device, sums)
            for k, scores in enumerate(_decoded(packed, task, batch, idx, device)):
                for key, value in scores.items():
                    per_example[k].setdefault(key, []).append(value)
    return [summarise(task, len(batch), s, p) for s, p in zip(sums, per_example)]


def _forced(packed, task, batch, idx, device, sums: list[dict]) -> None:
    inputs = torch.from_numpy(batch.model_inputs()[idx]).to(device)
    logits = packed(inputs[None, :, :-1].expand(packed.size, -1, -1))  # [K, n, T-1, V]
    for k, member_sums in enumerate(sums):
        # `_teacher_forced` runs "the model" on the prompt: here, member k's slice of the pack's logits.
        for key, value in _teacher_forced(lambda _, k=k: logits[k], task, batch, idx, device).items():
            member_sums[key] = member_sums.get(key, 0.0) + value


def _decoded(packed, task, batch, idx, device) -> list[dict[str, np.ndarray]]:
    sub = _subset(batch, idx)
    width = int((sub.length - sub.prompt_len).max())
    k = packed.size
    completions = decode(FlatPack(packed), sub, width, device, rows=k)  # [K*n, width]
    n = len(idx)
    return [task.score(sub, completions[m * n : (m + 1) * n]) for m in range(k)]
