"""Which runs can share a pack, and what a pack costs in memory (no torch or Lightning needed)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from search_scaling.models import param_counts

if TYPE_CHECKING:
    from search_scaling.training.spec import RunSpec

# What members of one pack may differ in (besides the seed): per-member scalars of the optimiser.
PACKABLE = ("seed", "lr", "warmup", "min_lr_ratio", "weight_decay", "beta1", "beta2", "grad_clip")
# A stop rule is per member too: each member's tracker applies its own (a member that stops is frozen).
NOT_SHAPE = (*PACKABLE, "stop", "sweep")


def pack_key(spec: RunSpec) -> str:
    """Runs with equal keys can train as one pack: every hashed field but the per-member ones."""
    return json.dumps({k: v for k, v in spec.hashed_fields().items() if k not in NOT_SHAPE}, sort_keys=True)


def pack_memory_bytes(spec: RunSpec, members: int, context: int | None = None) -> int:
    """A generous estimate of a pack's training memory in bytes (fp32, full context ``n_ctx``
    unless ``context``): weights, gradients and two AdamW moments (16 bytes a parameter), the
    activations autograd keeps for one batch (Korthikanti et al. 2022: 34 d + 5 h T bytes per token
    and layer in 16-bit, doubled for fp32) and the logits with their log-softmax and gradient."""
    cfg = spec.model_config
    t = context or cfg.n_ctx
    tokens = spec.batch_size * t
    weights = 4 * 4 * param_counts(cfg)["params_total"]
    per_layer = (34 * cfg.d_model + 5 * cfg.n_heads * t) * tokens * 2
    logits = 3 * 4 * tokens * cfg.d_vocab
    return members * (weights + cfg.n_layers * per_layer + logits + 4 * tokens * cfg.d_model)
