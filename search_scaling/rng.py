"""Counter-based random streams: every example's randomness is a pure function of (key, index).

Why not one `numpy.random.Generator` per batch: the values a batched generator draws depend on how
many examples share the batch, so a dataset would change with batch size or worker count. Here each
example ``i`` owns a SplitMix64 stream keyed by ``(key, domain, i)``; draw ``t`` of that stream is
``mix(stream_key + (t + 1) * GAMMA)``. Any batching of the examples gives the same bytes.

Public entry points take a `numpy.random.Generator` and draw a single 64-bit key from it, so callers
keep the usual "pure function of (config, rng)" contract.
"""

from __future__ import annotations

import numpy as np

GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 2.0**-53

# One domain per use, so the streams for (say) the maze walls and the endpoints never overlap.
DOMAINS = {"generate": 1, "endpoints": 2, "shuffle": 3, "loops": 4, "task": 5, "labels": 6, "decisions": 7}


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele et al. 2014): a bijection on uint64 with full avalanche."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (x ^ (x >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def draw_key(rng: np.random.Generator) -> np.uint64:
    """Take one 64-bit key from a caller's generator (the only state we consume from it)."""
    return np.uint64(rng.integers(0, 2**64, dtype=np.uint64))


def stream_keys(key: np.uint64, indices: np.ndarray, domain: str) -> np.ndarray:
    """Per-example stream keys: uint64[len(indices)], independent across domains and indices."""
    idx = np.asarray(indices, dtype=np.uint64)
    dom = np.uint64(DOMAINS[domain])
    with np.errstate(over="ignore"):
        return mix64(mix64(np.uint64(key) ^ (dom * GAMMA)) + idx * GAMMA + np.uint64(1))


def uniform(keys: np.ndarray, counter) -> np.ndarray:
    """Draw number ``counter`` (scalar or per-row array) of each stream: float64 in [0, 1)."""
    c = np.asarray(counter, dtype=np.uint64)
    with np.errstate(over="ignore"):
        bits = mix64(keys + (c + np.uint64(1)) * GAMMA)
    return (bits >> np.uint64(11)).astype(np.float64) * _TO_UNIT


def uniform_matrix(keys: np.ndarray, width: int, offset: int = 0) -> np.ndarray:
    """Draws ``offset .. offset+width-1`` of every stream at once: float64[len(keys), width]."""
    cols = np.arange(offset, offset + width, dtype=np.uint64)
    return uniform(keys[:, None], cols[None, :])


def bits_matrix(keys: np.ndarray, width: int, offset: int = 0) -> np.ndarray:
    """Raw 64-bit draws ``offset .. offset+width-1`` of every stream: uint64[len(keys), width]."""
    cols = np.arange(offset + 1, offset + width + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64(keys[:, None] + cols[None, :] * GAMMA)


def below(keys: np.ndarray, counter, bound: np.ndarray) -> np.ndarray:
    """Integer in [0, bound) per row, from draw ``counter``; bound may differ per row."""
    return np.minimum((uniform(keys, counter) * bound).astype(np.int64), np.asarray(bound) - 1)
