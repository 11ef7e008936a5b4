"""Held-out evaluation: teacher-forced loss and likelihoods on the answer span, then batched greedy
decoding (KV cache) scored by the task.

Teacher-forced metrics: ``loss`` (mean NLL per answer token), ``next_token_acc``, ``answer_logprob``
(per-token log-likelihood of the true answer, averaged over examples: the continuous companion of
exact accuracy) and ``answer_prob`` (probability of the whole true answer). Decoded metrics are the
task's own (for mazes: exact, token_acc, valid, reached, first_step, prefix_len, prefix_frac).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from search_scaling.models.decode import greedy_decode
from search_scaling.models.transformer import Transformer
from search_scaling.tasks import Task, TaskBatch


def autocast_for(device: torch.device, precision: str):
    if precision.startswith("bf16") and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def evaluate(model: Transformer, task: Task, batch: TaskBatch, precision: str = "32-true",
             chunk: int = 256) -> dict[str, float]:  # fmt: skip
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    per_example: dict[str, list[np.ndarray]] = {}
    with autocast_for(device, precision):
        for lo in range(0, len(batch), chunk):
            idx = np.arange(lo, min(lo + chunk, len(batch)))
            for key, value in _teacher_forced(model, batch, idx, device).items():
                sums[key] = sums.get(key, 0.0) + value
            for key, value in _decoded(model, task, batch, idx, device).items():
                per_example.setdefault(key, []).append(value)
    model.train(was_training)
    n_answer = max(sums.pop("n_answer"), 1.0)
    out = {
        "loss": sums.pop("nll") / n_answer,
        "next_token_acc": sums.pop("hits") / n_answer,
        "answer_logprob": sums.pop("logprob_mean") / len(batch),
        "answer_prob": sums.pop("prob") / len(batch),
    }
    out.update({k: float(np.concatenate(v).mean()) for k, v in per_example.items()})
    return out


def _teacher_forced(model, batch: TaskBatch, idx, device) -> dict[str, float]:
    tokens = torch.from_numpy(batch.tokens[idx]).to(device)
    mask = torch.from_numpy(batch.answer_mask[idx][:, 1:]).to(device)
    logp = F.log_softmax(model(tokens[:, :-1]).float(), dim=-1)
    target = tokens[:, 1:]
    token_logp = logp.gather(-1, target[..., None]).squeeze(-1) * mask
    per_example = token_logp.sum(dim=1)
    count = mask.sum(dim=1).clamp(min=1)
    return {
        "n_answer": float(mask.sum()),
        "nll": float(-per_example.sum()),
        "hits": float(((logp.argmax(-1) == target) & mask).sum()),
        "logprob_mean": float((per_example / count).sum()),
        "prob": float(per_example.exp().sum()),
    }


def _decoded(model, task: Task, batch: TaskBatch, idx, device) -> dict[str, np.ndarray]:
    sub = _subset(batch, idx)
    width = int((sub.length - sub.prompt_len).max())
    tokens = torch.from_numpy(sub.tokens).to(device)
    prompt_len = torch.from_numpy(sub.prompt_len).to(device)
    completions = greedy_decode(model, tokens, prompt_len, width).cpu().numpy()
    return task.score(sub, completions)


def _subset(batch: TaskBatch, idx: np.ndarray) -> TaskBatch:
    return TaskBatch(
        batch.tokens[idx], batch.answer_mask[idx], batch.prompt_len[idx], batch.length[idx],
        batch.size[idx], {k: v[idx] for k, v in batch.extras.items()},
    )  # fmt: skip
