"""Same seed -> byte-identical datasets, whatever the batch size or number of worker processes."""

import hashlib

import numpy as np

from search_scaling.tasks.maze import MazeConfig, build_dataset, generate, load_or_build
from search_scaling.tasks.maze.dataset import cache_path


def digest(batch) -> str:
    h = hashlib.sha256()
    for name, arr in batch.arrays().items():
        h.update(name.encode() + arr.tobytes() + str(arr.shape).encode())
    return h.hexdigest()


def test_batch_size_and_workers_do_not_change_bytes():
    cfg = MazeConfig(6, "wilson", endpoints="deadends", min_path_len=3)
    reference = digest(build_dataset(cfg, 300, seed=7))
    assert digest(build_dataset(cfg, 300, seed=7, batch_size=17)) == reference
    assert digest(build_dataset(cfg, 300, seed=7, workers=3, batch_size=64)) == reference
    assert digest(build_dataset(cfg, 300, seed=8)) != reference


def test_prefix_stability_and_rng_contract():
    cfg = MazeConfig(5, "percolation", p=0.2)
    big = generate(cfg, 50, np.random.default_rng(1))
    small = generate(cfg, 10, np.random.default_rng(1))
    assert np.array_equal(big.origin[:10], small.origin) and np.array_equal(big.conn[:10], small.conn)
    assert not np.array_equal(generate(cfg, 10, np.random.default_rng(2)).conn, small.conn)


def test_cache_is_content_addressed(tmp_path):
    cfg = MazeConfig(4, "kruskal")
    first = load_or_build(tmp_path, cfg, 100, seed=0)
    path = cache_path(tmp_path, cfg, 100, 0)
    assert path.name.startswith("maze-g4-kruskal-n100-s0-")
    files = {p.name: p.read_bytes() for p in path.iterdir()}
    again = load_or_build(tmp_path, cfg, 100, seed=0)  # a cache hit: nothing rewritten
    assert digest(again) == digest(first)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == files
    assert cache_path(tmp_path, cfg, 100, 1) != path
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left
