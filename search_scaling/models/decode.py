"""Batched greedy decoding, with a KV cache (default) or by recomputing the whole prefix.

Prompts are right-padded and may differ in length: the shared prefix is run at once, then one
position per step; a row still inside its prompt is fed its own prompt token (teacher forcing),
a row past it is fed its previous prediction.
"""

from __future__ import annotations

import torch

from search_scaling.models.transformer import KVCache, Transformer


@torch.no_grad()
def greedy_decode(model: Transformer, tokens: torch.Tensor, prompt_len: torch.Tensor, max_new: int,
                  use_cache: bool = True) -> torch.Tensor:  # fmt: skip
    """tokens int[batch, T] (prompts right-padded), prompt_len int[batch] -> int[batch, max_new]:
    the tokens predicted for positions prompt_len .. prompt_len + max_new - 1 of each row."""
    batch = tokens.shape[0]
    total = int(prompt_len.max()) + max_new - 1
    if total > model.cfg.n_ctx:
        raise ValueError(f"decoding needs {total} positions but n_ctx={model.cfg.n_ctx}")
    seq = torch.zeros(batch, total + 1, dtype=tokens.dtype, device=tokens.device)
    seq[:, : tokens.shape[1]] = tokens[:, : total + 1]
    start = int(prompt_len.min())
    cache = KVCache() if use_cache else None
    logits = model(seq[:, :start], cache=cache)
    rows = torch.arange(batch, device=tokens.device)
    for pos in range(start, total + 1):
        pred = logits[:, -1].argmax(dim=-1)  # prediction for position `pos`
        seq[:, pos] = torch.where(pos >= prompt_len, pred, seq[:, pos])
        if pos == total:
            break
        logits = model(seq[:, pos : pos + 1], cache=cache) if use_cache else model(seq[:, : pos + 1])
    cols = prompt_len[:, None] + torch.arange(max_new, device=tokens.device)[None, :]
    return seq[rows[:, None], cols]


@torch.no_grad()
def parallel_decode(model: Transformer, inputs: torch.Tensor, prompt_len: torch.Tensor,
                    max_new: int) -> torch.Tensor:  # fmt: skip
    """Decoding a model that reads fixed inputs at its answer positions (teacherless training:
    a dummy token), so never its own predictions: one forward pass predicts every answer token.
    inputs int[batch, T], prompt_len int[batch] -> int[batch, max_new], as `greedy_decode`."""
    total = int(prompt_len.max()) + max_new - 1
    if total > model.cfg.n_ctx:
        raise ValueError(f"decoding needs {total} positions but n_ctx={model.cfg.n_ctx}")
    seq = torch.zeros(inputs.shape[0], total, dtype=inputs.dtype, device=inputs.device)
    seq[:, : min(total, inputs.shape[1])] = inputs[:, :total]
    pred = model(seq).argmax(dim=-1)  # [batch, total]: position t predicts token t + 1
    cols = prompt_len[:, None] - 1 + torch.arange(max_new, device=inputs.device)[None, :]
    return pred.gather(1, cols)
