"""Progress measures of the iteration, composition and retrieval tasks.

- parity / binary_copy / polynomial (with chain of thought): ``iter_attn_L<l>H<h>``, the attention
  mass from the position that predicts s_t (the one holding s_{t-1}, or EoI for t = 1) onto x_t, the
  token the iteration reads (Cabannes et al. 2024's iteration head: a peaky pattern on one key);
  ``iter_attn_max``: the head that does it most. Without chain of thought there is no iteration.
- d3: the logit-lens staircase ("one step per layer"). ``lens_acc_L<l>``: the answer read from the
  residual stream after block l at <predict>; ``lens_first_layer_k<k>``: the first layer count
  (1..n_layers; n_layers + 1 = none) whose lens reads the answer of k compositions with accuracy
  >= `DECODABLE`; ``lens_decodable``: the share of the k values decodable at some layer.
- induction / assoc_recall: ``prefix_match_L<l>H<h>`` (Olsson et al. 2022), the attention mass
  from each answer-predicting position onto the tokens right after earlier occurrences of its own
  token; ``copying_L<l>H<h>``, the share of positive eigenvalues of the head's OV circuit read from
  token to logit, sum(Re lambda) / sum(|lambda|) of W_E W_V W_O W_U (LayerNorm gains folded in,
  centring and scale ignored): +1 copies, -1 suppresses; ``prefix_match_max``, ``copying_max``.
"""

from __future__ import annotations

import numpy as np
import torch

from search_scaling.measures.common import (
    attention_scores,
    block_of,
    chunks,
    head_summary,
    hook_names,
    lens_predictions,
    resid_name,
)
from search_scaling.models.transformer import Transformer
from search_scaling.tasks import TaskBatch

DECODABLE = 0.9


@torch.no_grad()
def iteration_measures(model: Transformer, batch: TaskBatch, cot: bool = True) -> dict[str, float]:
    if not cot:
        return {}
    queries, keys = iteration_positions(batch.size, batch.tokens.shape[1])
    return attention_scores(model, batch.tokens, queries, {"iter_attn": keys})


def iteration_positions(lengths: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Queries bool[n, T] at k + t (which predicts s_t) for t = 1..k, each keyed on x_t at t:
    keys bool[n, T, T] (``[TASK] x_1..x_k [EoI] s_1..s_k``: x_t at t, s_t at k + 1 + t)."""
    pos = np.arange(width)
    k = lengths[:, None]
    queries = (pos[None, :] > k) & (pos[None, :] <= 2 * k)
    keys = pos[None, None, :] == (pos[None, :, None] - k[:, :, None])
    return queries, keys & queries[:, :, None]


@torch.no_grad()
def d3_measures(model: Transformer, batch: TaskBatch) -> dict[str, float]:
    n_layers, rows = model.cfg.n_layers, np.arange(len(batch))
    answer = batch.tokens[rows, batch.prompt_len]
    hits = np.zeros((len(batch), n_layers), dtype=bool)
    for idx, hooks in chunks(model, batch.tokens, hook_names(n_layers, pattern=False)):
        at = torch.from_numpy(batch.prompt_len[idx] - 1)  # <predict>, whose output is the answer
        for layer in range(n_layers):
            resid = hooks[resid_name(layer)][torch.arange(len(idx)), at]  # [chunk, d_model]
            hits[idx, layer] = lens_predictions(model, resid).cpu().numpy() == answer[idx]
    return staircase(hits, batch.size)


def staircase(hits: np.ndarray, ks: np.ndarray, threshold: float = DECODABLE) -> dict[str, float]:
    """Logit-lens staircase from per-example hits bool[n, layer] and compositions ks int[n]."""
    n_layers = hits.shape[1]
    out = {f"lens_acc_L{layer}": float(hits[:, layer].mean()) for layer in range(n_layers)}
    decodable = []
    for k in np.unique(ks):
        ok = hits[ks == k].mean(axis=0) >= threshold  # [layer]
        first = int(np.argmax(ok)) + 1 if ok.any() else n_layers + 1
        out[f"lens_first_layer_k{k}"] = float(first)
        decodable.append(ok.any())
    out["lens_decodable"] = float(np.mean(decodable))
    return out


@torch.no_grad()
def recall_measures(model: Transformer, batch: TaskBatch) -> dict[str, float]:
    queries, keys = prefix_positions(batch.tokens, batch.answer_mask)
    out = attention_scores(model, batch.tokens, queries, {"prefix_match": keys})
    copying = copying_scores(model)
    return {**out, **copying, **head_summary(copying, "copying")}


def prefix_positions(tokens: np.ndarray, answer_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Queries bool[n, T]: the positions whose next token is an answer target; keys bool[n, T, T]:
    for a query at t, every position j + 1 <= t with tokens[j] == tokens[t], j < t."""
    n, width = tokens.shape
    queries = np.zeros((n, width), dtype=bool)
    queries[:, :-1] = answer_mask[:, 1:]
    previous = np.full((n, width), -1)
    previous[:, 1:] = tokens[:, :-1]  # the token before each key position
    pos = np.arange(width)
    keys = (previous[:, None, :] == tokens[:, :, None]) & (pos[None, :] <= pos[:, None])[None]
    keys &= (pos[None, :] >= 1)[None]
    return queries, keys & queries[:, :, None]


@torch.no_grad()
def copying_scores(model: Transformer) -> dict[str, float]:
    """``copying_L<l>H<h>`` from the weights alone (see the module docstring)."""
    cfg, out = model.cfg, {}
    embed, unembed = model.embed.weight, model.unembed.weight * model.ln_final.weight  # [V, d] each
    hd = cfg.n_heads * cfg.d_head
    for layer in range(cfg.n_layers):
        block = block_of(model, layer)
        source = embed * block.ln1.weight  # [V, d]
        w_v, w_o = block.attn.qkv.weight[2 * hd :], block.attn.out.weight  # [H*dh, d], [d, H*dh]
        for head in range(cfg.n_heads):
            cols = slice(head * cfg.d_head, (head + 1) * cfg.d_head)
            into = source @ w_v[cols].T  # [V, dh]
            back = w_o[:, cols].T @ unembed.T  # [dh, V]
            # W_E W_V W_O W_U and the small [dh, dh] product share their non-zero eigenvalues
            eig = torch.linalg.eigvals((back @ into).double().cpu())
            out[f"copying_L{layer}H{head}"] = float(eig.real.sum() / eig.abs().sum().clamp(min=1e-12))
    return out
