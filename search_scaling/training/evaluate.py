"""Held-out evaluation: teacher-forced loss and likelihoods on the answer span, then batched greedy
decoding (KV cache) scored by the task.

Teacher-forced metrics: ``loss`` (mean NLL per answer token), ``next_token_acc``, ``answer_logprob``
(per-token log-likelihood of the true answer, averaged over examples: the continuous companion of
exact accuracy), ``answer_prob`` (probability of the whole true answer), ``answer_len`` (answer
tokens per example: the n of the metric-artefact null, exact ~ exp(-n loss)) and, for tasks with token
groups, ``<group>_loss`` / ``<group>_acc`` per group (mazes: ``decision_*`` and ``corridor_*``) and
``<group>_prob``, the mean over examples of each example's probability of all its tokens of the group
(the metric-artefact null of that group: exp(-<group>_loss) is a geometric mean, which under-predicts
exact accuracy when examples vary in length and difficulty).
Decoded metrics are the task's own (for mazes: exact, token_acc, valid, reached, first_step,
prefix_len, prefix_frac, exact_dec_<k>); a metric is averaged over the examples it applies to.
A batch whose model inputs differ from its targets (``TaskBatch.inputs``, teacherless training) is
read through those inputs, and decoded in parallel (`parallel_decode`). Last come the task's
summary metrics (`Task.summary_metrics`), derived from the others.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from search_scaling.models.decode import greedy_decode, parallel_decode
from search_scaling.models.transformer import Transformer
from search_scaling.tasks import Task, TaskBatch
from search_scaling.tasks.base import token_groups


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
            for key, value in _teacher_forced(model, task, batch, idx, device).items():
                sums[key] = sums.get(key, 0.0) + value
            for key, value in _decoded(model, task, batch, idx, device).items():
                per_example.setdefault(key, []).append(value)
    model.train(was_training)
    return summarise(task, len(batch), sums, per_example)


def summarise(task: Task, n: int, sums: dict[str, float], per_example: dict[str, list[np.ndarray]]):
    """The metrics of ``n`` examples from the chunks' teacher-forced sums and decoded scores."""
    n_answer = max(sums.pop("n_answer"), 1.0)
    out = {
        "loss": sums.pop("nll") / n_answer,
        "next_token_acc": sums.pop("hits") / n_answer,
        "answer_logprob": sums.pop("logprob_mean") / n,
        "answer_prob": sums.pop("prob") / n,
        "answer_len": n_answer / n,
    }
    for name in task.token_groups:
        if sums.get(f"n_{name}", 0.0) > 0:
            out[f"{name}_loss"] = sums[f"nll_{name}"] / sums[f"n_{name}"]
            out[f"{name}_acc"] = sums[f"hits_{name}"] / sums[f"n_{name}"]
            out[f"{name}_prob"] = sums[f"prob_{name}"] / n  # an example without the group counts as 1
    for key, values in per_example.items():
        values = np.concatenate(values)
        if not np.isnan(values).all():  # NaN = the metric does not apply (e.g. an empty stratum)
            out[key] = float(np.nanmean(values))
    out.update(task.summary_metrics(out))
    return out


def _teacher_forced(model, task: Task, batch: TaskBatch, idx, device) -> dict[str, float]:
    tokens = torch.from_numpy(batch.tokens[idx]).to(device)
    inputs = torch.from_numpy(batch.model_inputs()[idx]).to(device)
    mask = torch.from_numpy(batch.answer_mask[idx][:, 1:]).to(device)
    logp = F.log_softmax(model(inputs[:, :-1]).float(), dim=-1)
    target = tokens[:, 1:]
    token_logp = logp.gather(-1, target[..., None]).squeeze(-1) * mask  # [n, T-1]
    hits = (logp.argmax(-1) == target) & mask
    per_example = token_logp.sum(dim=1)
    count = mask.sum(dim=1).clamp(min=1)
    sums = {
        "n_answer": float(mask.sum()),
        "nll": float(-per_example.sum()),
        "hits": float(hits.sum()),
        "logprob_mean": float((per_example / count).sum()),
        "prob": float(per_example.exp().sum()),
    }
    if task.token_groups:
        groups = torch.from_numpy(token_groups(batch, idx)).to(device)  # [n, T-1]
        for code, name in enumerate(task.token_groups, start=1):
            in_group = (groups == code) & mask
            sums[f"n_{name}"] = float(in_group.sum())
            sums[f"nll_{name}"] = float(-(token_logp * in_group).sum())
            sums[f"hits_{name}"] = float((hits & in_group).sum())
            sums[f"prob_{name}"] = float((token_logp * in_group).sum(dim=1).exp().sum())  # sum of [n]
    return sums


def _decoded(model, task: Task, batch: TaskBatch, idx, device) -> dict[str, np.ndarray]:
    sub = _subset(batch, idx)
    width = int((sub.length - sub.prompt_len).max())
    return task.score(sub, decode(model, sub, width, device, rows=1))


def decode(model, batch: TaskBatch, width: int, device, rows: int = 1) -> np.ndarray:
    """The model's answers to ``batch`` (``width`` tokens from each prompt on): greedy decoding, or
    one parallel pass for a batch read through fixed inputs. ``rows`` > 1: ``model`` holds that many
    models over copies of the batch (a pack), and the answers come back stacked [rows * n, width]."""
    tokens = torch.from_numpy(batch.model_inputs()).to(device).repeat(rows, 1)
    prompt_len = torch.from_numpy(batch.prompt_len).to(device).repeat(rows)
    if batch.inputs is not None:
        return parallel_decode(model, tokens, prompt_len, width).cpu().numpy()
    return greedy_decode(model, tokens, prompt_len, width).cpu().numpy()


def _subset(batch: TaskBatch, idx: np.ndarray) -> TaskBatch:
    return batch.subset(idx)
