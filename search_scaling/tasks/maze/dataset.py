"""Content-addressed, process-parallel maze datasets.

A dataset is (config, number of mazes, seed). Its cache entry is a directory named
``<slug>-n<count>-s<seed>-<digest>`` (digest = hash of config, count, seed and the schema version)
holding one ``.npy`` per array plus ``meta.json``. ``.npy`` bytes depend only on the arrays, so every
node that builds or reads the entry sees the same bytes. Writes go to a temporary directory that is
renamed into place, so a crash never leaves a partial entry visible.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from search_scaling import rng as rs
from search_scaling.tasks.maze.batch import MazeBatch, concat, generate_indexed
from search_scaling.tasks.maze.config import SCHEMA_VERSION, MazeConfig

ARRAYS = ("conn", "origin", "target", "paths", "path_len", "tokens")


def dataset_key(seed: int) -> np.uint64:
    """The stream key of a dataset seed (what `generate` would draw from default_rng(seed))."""
    return rs.draw_key(np.random.default_rng(seed))


def build_dataset(
    config: MazeConfig, n: int, seed: int, workers: int = 1, batch_size: int = 4096
) -> MazeBatch:
    """``n`` mazes for ``seed``; identical bytes for any ``workers`` and ``batch_size``."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"number of mazes must be a positive integer, got {n!r}")
    key = dataset_key(seed)
    if workers <= 1:
        return generate_indexed(config, key, np.arange(n), batch_size)
    bounds = np.linspace(0, n, workers + 1).astype(int)
    parts = [np.arange(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        chunks = list(pool.map(generate_indexed, [config] * len(parts), [key] * len(parts), parts,
                               [batch_size] * len(parts)))  # fmt: skip
    return concat(chunks)


def cache_path(root: str | Path, config: MazeConfig, n: int, seed: int) -> Path:
    name = f"{config.slug()}-n{n}-s{seed}-{config.digest(n=n, seed=seed)}"
    return Path(root).expanduser().resolve() / name


def load_or_build(root: str | Path, config: MazeConfig, n: int, seed: int, workers: int = 1) -> MazeBatch:
    """Read the cached dataset, building and publishing it first if it is missing."""
    path = cache_path(root, config, n, seed)
    if not (path / "meta.json").exists():
        _publish(path, build_dataset(config, n, seed, workers), n, seed)
    return load(path)


def load(path: Path) -> MazeBatch:
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema {meta.get('schema')} != {SCHEMA_VERSION}; delete it to rebuild")
    arrays = {k: np.load(path / f"{k}.npy", allow_pickle=False) for k in ARRAYS}
    return MazeBatch(MazeConfig(**meta["config"]), **arrays)


def _publish(path: Path, batch: MazeBatch, n: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        for k, arr in batch.arrays().items():
            np.save(tmp / f"{k}.npy", arr, allow_pickle=False)
        meta = {"config": batch.config.to_dict(), "n": n, "seed": seed, "schema": SCHEMA_VERSION}
        (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True, indent=1))
        os.rename(tmp, path)  # atomic; if another process won the race, keep theirs (same bytes)
    except OSError:
        if not (path / "meta.json").exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
