"""Decoder-only transformer (pre-LayerNorm, GELU MLP) in plain PyTorch, readable in one sitting.

Hook points carry TransformerLens's names (``blocks.{i}.attn.hook_pattern``, ``hook_z``, ...; the
table and the hook API, `run_with_hooks`, `run_with_cache`, patching and per-head weight views, are in
`search_scaling.models.hooks`). A model with no hook registered runs the plain forward pass;
attention uses the fused `scaled_dot_product_attention` unless its pattern or scores are hooked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from search_scaling.models.config import ModelConfig
from search_scaling.models.folded_attention import FoldedCausalAttention
from search_scaling.models.hooks import HeadWeights, HookedModel, HookRegistry, head_hook


@dataclass
class KVCache:
    """Per-layer keys and values of the tokens seen so far: each [batch, head, pos, d_head]."""

    keys: list[torch.Tensor | None] = field(default_factory=list)
    values: list[torch.Tensor | None] = field(default_factory=list)

    def length(self) -> int:
        return 0 if not self.keys or self.keys[0] is None else self.keys[0].shape[2]


def rotary(x: torch.Tensor, start: int) -> torch.Tensor:
    """Rotate feature pairs of q or k [batch, head, pos, d_head] by position-dependent angles."""
    d = x.shape[-1]
    inv_freq = 1.0 / (10000 ** (torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d))
    pos = torch.arange(start, start + x.shape[2], device=x.device, dtype=torch.float32)
    angles = torch.outer(pos, inv_freq)  # [pos, d/2]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class Attention(HeadWeights, nn.Module):
    # False: attention as explicit matmuls instead of the fused kernel.
    fused = True
    # True under `torch.vmap` (a pack, `training.pack`): the fused kernel has no vmap batching rule
    # on CPU, so attention without a prefix calls it once with the members folded into the batch
    # (`FoldedCausalAttention`); a KV-cache step (a prefix) uses explicit matmuls.
    vmapped = False

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.n_heads * cfg.d_head)
        self.out = nn.Linear(cfg.n_heads * cfg.d_head, cfg.d_model)

    def forward(
        self, x, layer: int, start: int, cache: KVCache | None, hooks: HookRegistry | None
    ) -> torch.Tensor:
        b, t, _ = x.shape  # x: [batch, pos, d_model]; `start` = number of cached positions
        q, k, v = self.qkv(x).view(b, t, 3, self.cfg.n_heads, self.cfg.d_head).permute(2, 0, 3, 1, 4)
        name = f"blocks.{layer}.attn."  # q, k, v: [batch, head, pos, d_head]
        if hooks is not None:
            q, k, v = (head_hook(hooks, name + f"hook_{n}", a) for n, a in (("q", q), ("k", k), ("v", v)))
        if self.cfg.positional == "rotary":
            q, k = rotary(q, start), rotary(k, start)
        if cache is not None:
            k, v = _append(cache, layer, k, v)
        explicit = hooks is not None and (
            hooks.wants(name + "hook_pattern") or hooks.wants(name + "hook_attn_scores")
        )
        if explicit or not self.fused or (self.vmapped and start > 0):
            z = self._explicit(q, k, v, start, hooks, name)
        elif self.vmapped:
            z = FoldedCausalAttention.apply(q, k, v)
        else:  # causal mask relative to the cached prefix: query i sees keys 0..start+i
            # (is_causal on one query without a prefix is no mask; a bool of `start` alone keeps the
            # compiled graph whole when the length is symbolic)
            mask = None if start == 0 else _causal(t, start, x.device)
            z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=start == 0)
        if hooks is not None:
            z = head_hook(hooks, name + "hook_z", z)  # [batch, head, pos, d_head]
        return self.out(z.transpose(1, 2).reshape(b, t, -1))

    def _explicit(self, q, k, v, start, hooks, name):
        scores = q @ k.transpose(-1, -2) / self.cfg.d_head**0.5  # [batch, head, query, key]
        scores = scores.masked_fill(~_causal(q.shape[2], start, q.device), float("-inf"))
        if hooks is not None:
            scores = hooks(name + "hook_attn_scores", scores)
        pattern = scores.softmax(dim=-1)
        if hooks is not None:
            pattern = hooks(name + "hook_pattern", pattern)
        return pattern @ v


def _causal(t: int, start: int, device) -> torch.Tensor:
    """bool[t, start + t]: query i may attend to keys 0..start+i."""
    return torch.ones(t, start + t, dtype=torch.bool, device=device).tril(diagonal=start)


def _append(cache: KVCache, layer: int, k, v):
    while len(cache.keys) <= layer:
        cache.keys.append(None)
        cache.values.append(None)
    if cache.keys[layer] is not None:
        k, v = torch.cat([cache.keys[layer], k], dim=2), torch.cat([cache.values[layer], v], dim=2)
    cache.keys[layer], cache.values[layer] = k, v
    return k, v


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(cfg.d_model), Attention(cfg)
        self.mlp = None
        if not cfg.attn_only:
            self.ln2 = nn.LayerNorm(cfg.d_model)
            self.mlp = nn.Sequential(
                nn.Linear(cfg.d_model, cfg.d_mlp), nn.GELU(), nn.Linear(cfg.d_mlp, cfg.d_model)
            )

    def forward(
        self, x, layer: int, start: int, cache: KVCache | None, hooks: HookRegistry | None
    ) -> torch.Tensor:
        if hooks is not None:
            return self._hooked(x, layer, start, cache, hooks)
        x = x + self.attn(self.ln1(x), layer, start, cache, None)
        if self.mlp is not None:
            x = x + self.mlp(self.ln2(x))
        return x

    def _hooked(self, x, layer: int, start: int, cache: KVCache | None, hooks: HookRegistry) -> torch.Tensor:
        """The same computation as `forward` with every hook point of the block on the way."""
        name = f"blocks.{layer}."
        x = hooks(name + "hook_resid_pre", x)  # [batch, pos, d_model]
        x = x + hooks(name + "hook_attn_out", self.attn(self.ln1(x), layer, start, cache, hooks))
        if self.mlp is not None:
            x = hooks(name + "hook_resid_mid", x)
            pre = hooks(name + "mlp.hook_pre", self.mlp[0](self.ln2(x)))  # [batch, pos, d_mlp]
            post = hooks(name + "mlp.hook_post", self.mlp[1](pre))
            x = x + hooks(name + "hook_mlp_out", self.mlp[2](post))
        return hooks(name + "hook_resid_post", x)


class Transformer(HookedModel, nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.hook_registry = HookRegistry()  # empty: the plain forward pass (see `models.hooks`)
        self.embed = nn.Embedding(cfg.d_vocab, cfg.d_model)
        self.pos_embed = nn.Embedding(cfg.n_ctx, cfg.d_model) if cfg.positional == "learned" else None
        n_unique = 1 if cfg.universal else cfg.n_layers
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(n_unique))
        self.ln_final = nn.LayerNorm(cfg.d_model)
        self.unembed = nn.Linear(cfg.d_model, cfg.d_vocab)
        self.apply(_init)

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """tokens int[batch, pos] -> logits [batch, pos, d_vocab]. With a cache, positions continue
        after the cached prefix and the cache is extended in place."""
        start = cache.length() if cache is not None else 0
        if start + tokens.shape[1] > self.cfg.n_ctx:
            raise ValueError(f"sequence of {start + tokens.shape[1]} tokens exceeds n_ctx={self.cfg.n_ctx}")
        hooks = self.hook_registry or None  # None: no hook registered, no hook point visited
        x = self.embed(tokens)  # [batch, pos, d_model]
        if hooks is not None:
            x = hooks("hook_embed", x)
        if self.pos_embed is not None:
            positions = self.pos_embed(torch.arange(start, start + tokens.shape[1], device=tokens.device))
            if hooks is not None and hooks.wants("hook_pos_embed"):  # [batch, pos, d_model] as in TL
                positions = hooks("hook_pos_embed", positions.expand_as(x).clone())
            x = x + positions
        for layer in range(self.cfg.n_layers):
            x = self.blocks[0 if self.cfg.universal else layer](x, layer, start, cache, hooks)
        logits = self.unembed(self.ln_final(x))
        return logits if hooks is None else hooks("hook_logits", logits)


def _init(module: nn.Module) -> None:
    """GPT-2 style: normal(0, 0.02) weights, zero biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
