"""Model configuration, the size family, and parameter / FLOP accounting (all derived, never typed in).

Names follow TransformerLens: n_layers, d_model, n_heads, d_head, d_mlp, d_vocab, n_ctx.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace

POSITIONAL = ("learned", "rotary")

# The size family: (name, n_layers, d_model, n_heads). d_head = d_model / n_heads, d_mlp = 4 d_model.
# Non-embedding parameters run from ~1e3 to ~1e8 (about 12 * n_layers * d_model^2).
SIZE_FAMILY: tuple[tuple[str, int, int, int], ...] = (
    ("L1-D8", 1, 8, 2),
    ("L2-D16", 2, 16, 2),
    ("L2-D32", 2, 32, 4),
    ("L3-D64", 3, 64, 4),
    ("L4-D128", 4, 128, 4),
    ("L6-D256", 6, 256, 8),
    ("L8-D512", 8, 512, 8),
    ("L12-D768", 12, 768, 12),
)


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer. ``attn_only`` drops the MLPs; ``universal`` shares one block
    applied ``n_layers`` times; ``positional`` is ``learned`` (absolute) or ``rotary``."""

    n_layers: int
    d_model: int
    n_heads: int
    d_vocab: int
    n_ctx: int
    d_mlp_ratio: int = 4
    positional: str = "learned"
    attn_only: bool = False
    universal: bool = False
    name: str = ""

    def __post_init__(self) -> None:
        for field in ("n_layers", "d_model", "n_heads", "d_vocab", "n_ctx", "d_mlp_ratio"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelConfig.{field} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"ModelConfig: d_model={self.d_model} must be divisible by n_heads={self.n_heads}"
            )
        if self.positional not in POSITIONAL:
            raise ValueError(
                f"ModelConfig.positional must be one of {list(POSITIONAL)}, got {self.positional!r}"
            )
        if self.positional == "rotary" and self.d_head % 2:
            raise ValueError(f"ModelConfig: rotary positions need an even d_head, got {self.d_head}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def d_mlp(self) -> int:
        return self.d_mlp_ratio * self.d_model

    def to_dict(self) -> dict:
        return asdict(self)


# Sizes between the family's rungs (a study spanning one maze size's boundary needs them): any
# "L<layers>-D<d_model>", optionally "-H<heads>"; without -H, heads of ~16 dimensions (at least 2).
SHAPE_NAME = re.compile(r"L([1-9][0-9]*)-D([1-9][0-9]*)(?:-H([1-9][0-9]*))?")


def model_shape(name: str) -> tuple[int, int, int]:
    """(n_layers, d_model, n_heads) of a family name or of an ``L<n>-D<d>[-H<h>]`` name."""
    table = {row[0]: row[1:] for row in SIZE_FAMILY}
    if name in table:
        return table[name]
    match = SHAPE_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(
            f"unknown model size {name!r}; available: {list(table)}, or L<layers>-D<d_model>[-H<heads>] "
            "such as L2-D24"
        )
    n_layers, d_model = int(match[1]), int(match[2])
    if match[3]:
        return n_layers, d_model, int(match[3])
    n_heads = max(2, d_model // 16)
    while d_model % n_heads:
        n_heads -= 1
    return n_layers, d_model, n_heads


def model_config(name: str, d_vocab: int, n_ctx: int, **overrides) -> ModelConfig:
    """A model size (family member or ``L<n>-D<d>[-H<h>]``) for a task's vocabulary and context length."""
    n_layers, d_model, n_heads = model_shape(name)
    return replace(ModelConfig(n_layers, d_model, n_heads, d_vocab, n_ctx, name=name), **overrides)


def block_params(cfg: ModelConfig) -> int:
    """One block: LayerNorm, fused QKV + output projection (with biases), LayerNorm, MLP."""
    d, attn = cfg.d_model, cfg.n_heads * cfg.d_head
    attention = 2 * d + (d * 3 * attn + 3 * attn) + (attn * d + d)
    mlp = 0 if cfg.attn_only else 2 * d + (d * cfg.d_mlp + cfg.d_mlp) + (cfg.d_mlp * d + d)
    return attention + mlp


def param_counts(cfg: ModelConfig) -> dict[str, int]:
    """Unique parameters: embedding (token + learned positions + unembedding with bias),
    non-embedding (blocks, counted once if shared, + final LayerNorm), total."""
    embed = cfg.d_vocab * cfg.d_model + cfg.d_model * cfg.d_vocab + cfg.d_vocab
    if cfg.positional == "learned":
        embed += cfg.n_ctx * cfg.d_model
    blocks = block_params(cfg) * (1 if cfg.universal else cfg.n_layers)
    non_embed = blocks + 2 * cfg.d_model
    return {"params_embed": embed, "params_nonembed": non_embed, "params_total": embed + non_embed}


def flops_per_token(cfg: ModelConfig, context: int | None = None) -> int:
    """Training FLOPs per token (forward + backward, Kaplan et al. 2020):
    6 * (N_applied + d_model * d_vocab) + 6 * n_layers * n_ctx * (n_heads * d_head),
    where N_applied counts a shared block once per application (compute, not storage)."""
    applied = block_params(cfg) * cfg.n_layers
    attention = cfg.n_layers * (context or cfg.n_ctx) * cfg.n_heads * cfg.d_head
    return 6 * (applied + cfg.d_model * cfg.d_vocab) + 6 * attention
