"""Learning-rate and evaluation schedules (pure functions of the step)."""

from __future__ import annotations

import math

import numpy as np


def lr_multiplier(step: int, total: int, warmup: float, min_ratio: float) -> float:
    """Linear warm-up over ``warmup * total`` steps, then cosine decay to ``min_ratio``."""
    warm = max(1, round(warmup * total))
    if step < warm:
        return (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def eval_steps(total: int, points: int) -> list[int]:
    """Steps (counted in optimizer updates done) at which to evaluate: 0, ``points`` log-spaced
    steps up to ``total`` (dense early, so transitions in training time can be located), plus a
    quarter as many evenly spaced ones so late training is not left with long gaps."""
    log = np.geomspace(1, total, points)
    lin = np.linspace(0, total, max(2, points // 4 + 1))
    return sorted({0, total, *np.rint(log).astype(int).tolist(), *np.rint(lin).astype(int).tolist()})
