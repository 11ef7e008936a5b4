"""Pieces every progress measure shares: hooked forward passes in memory-bounded chunks, running
means, the logit lens and attention mass onto a set of key positions."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from search_scaling.models.transformer import Transformer

# Elements of captured attention patterns held at once (all layers of one chunk): ~120 MB of float32.
PATTERN_BUDGET = 30_000_000


def resid_name(layer: int) -> str:
    return f"blocks.{layer}.hook_resid_post"


def pattern_name(layer: int) -> str:
    return f"blocks.{layer}.attn.hook_pattern"


def hook_names(n_layers: int, resid: bool = True, pattern: bool = True) -> set[str]:
    names = {resid_name(i) for i in range(n_layers)} if resid else set()
    return names | ({pattern_name(i) for i in range(n_layers)} if pattern else set())


def chunks(model: Transformer, tokens: np.ndarray, names: set[str]) -> Iterator[tuple[np.ndarray, dict]]:
    """(row indices, captured hooks) for the rows of ``tokens`` int[n, T], a chunk at a time so the
    patterns ([chunk, head, T, T] per layer) stay within `PATTERN_BUDGET`."""
    cfg, (n, width) = model.cfg, tokens.shape
    size = max(1, PATTERN_BUDGET // (cfg.n_layers * cfg.n_heads * width * width))
    device = next(model.parameters()).device
    for lo in range(0, n, size):
        idx = np.arange(lo, min(lo + size, n))
        _, store = model.run_with_cache(torch.from_numpy(tokens[idx]).to(device), names)
        yield idx, {k: v.float() for k, v in store.items()}


class Means:
    """Named running means: ``add(name, total, count)`` over chunks, ``result()`` at the end (a
    name that never got a count is left out: the measure does not apply)."""

    def __init__(self):
        self.sums: dict[str, list[float]] = {}

    def add(self, name: str, total, count) -> None:
        entry = self.sums.setdefault(name, [0.0, 0.0])
        entry[0] += float(total)
        entry[1] += float(count)

    def add_heads(self, prefix: str, layer: int, totals: torch.Tensor, count) -> None:
        """One mean per head: ``<prefix>_L<layer>H<head>``; totals [head]."""
        for head, total in enumerate(totals.tolist()):
            self.add(f"{prefix}_L{layer}H{head}", total, count)

    def result(self) -> dict[str, float]:
        return {k: total / count for k, (total, count) in self.sums.items() if count > 0}


def lens_predictions(model: Transformer, resid: torch.Tensor) -> torch.Tensor:
    """Logit lens: the residual stream [..., d_model] read out through the final LayerNorm and the
    unembedding, as the model reads its last layer: argmax token ids [...]."""
    return model.unembed(model.ln_final(resid)).argmax(-1)


def attention_mass(pattern: torch.Tensor, keys: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """Summed attention from the query positions onto each query's key set, per head.

    pattern [n, head, Tq, Tk]; keys bool[n, Tq, Tk] (the keys that count for each query);
    queries bool[n, Tq] -> [head]: sum over queries of the mass on their keys (divide by
    ``queries.sum()`` for the mean)."""
    on_keys = (pattern * keys[:, None].to(pattern.dtype)).sum(-1)  # [n, head, Tq]
    return (on_keys * queries[:, None, :].to(pattern.dtype)).sum(dim=(0, 2))


def attention_scores(model: Transformer, tokens: np.ndarray, queries: np.ndarray,
                     keys: dict[str, np.ndarray]) -> dict[str, float]:  # fmt: skip
    """Mean attention mass from the query positions bool[n, T] of ``tokens`` int[n, T] onto each
    named key set, bool[n, T] (the same keys for every query) or bool[n, T, T] (per query):
    ``<name>_L<l>H<h>`` per head and ``<name>_max``. Only the query rows of the patterns are kept."""
    means, rows = Means(), torch.from_numpy(np.nonzero(queries.any(0))[0])
    queries = torch.from_numpy(queries)
    device = next(model.parameters()).device
    for idx, hooks in chunks(model, tokens, hook_names(model.cfg.n_layers, resid=False)):
        q = queries[idx][:, rows]
        for layer in range(model.cfg.n_layers):
            pattern = hooks[pattern_name(layer)][:, :, rows.to(device)].cpu()  # [chunk, head, Q, T]
            for name, where in keys.items():
                k = torch.from_numpy(where[idx])
                k = k[:, None, :].expand(-1, len(rows), -1) if k.dim() == 2 else k[:, rows]
                means.add_heads(name, layer, attention_mass(pattern, k, q), q.sum())
    out = means.result()
    for name in keys:
        out.update(head_summary(out, name))
    return out


def head_summary(values: dict[str, float], prefix: str) -> dict[str, float]:
    """``<prefix>_max``: the largest per-head value (the head most doing the job), if any."""
    heads = [v for k, v in values.items() if k.startswith(f"{prefix}_L")]
    return {f"{prefix}_max": max(heads)} if heads else {}


def block_of(model: Transformer, layer: int):
    return model.blocks[0 if model.cfg.universal else layer]
