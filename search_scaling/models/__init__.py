"""One decoder-only transformer family with hook points and parameter / FLOP accounting."""

from search_scaling.models.config import (
    SIZE_FAMILY,
    ModelConfig,
    flops_per_token,
    model_config,
    model_shape,
    param_counts,
)
from search_scaling.models.transformer import KVCache, Transformer

__all__ = [
    "SIZE_FAMILY",
    "KVCache",
    "ModelConfig",
    "Transformer",
    "flops_per_token",
    "model_config",
    "model_shape",
    "param_counts",
]
