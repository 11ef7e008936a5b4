"""Packs in a sweep spec: which cells train together, the `pack` setting, and its errors."""

from __future__ import annotations

import pytest

from search_scaling.sweep import packs
from search_scaling.sweep.spec import SpecError, parse_sweep

BASE = {"name": "t", "tasks": [{"task": "maze", "sizes": [3]}], "models": ["L1-D8", "L2-D16"],
        "seeds": [0, 1, 2, 3], "budget": {"steps": 5}}  # fmt: skip


def test_two_models_by_four_seeds_make_two_packs():
    sweep = parse_sweep({**BASE, "pack": "on"})
    found = packs.plan_sweep(sweep)
    assert [len(p) for p in found] == [4, 4]
    assert [{c.model for c in p} for p in found] == [{"L1-D8"}, {"L2-D16"}]
    assert [(c,) for c in sweep.cells] == packs.plan_sweep(parse_sweep(BASE))  # off by default: one cell each


def test_learning_rates_pack_sizes_do_not_and_n_splits_evenly():
    sweep = parse_sweep({**BASE, "models": ["L1-D8"], "grid": {"lr": [1e-3, 3e-3], "batch_size": [8, 16]},
                         "pack": 3})  # fmt: skip
    found = packs.plan_sweep(sweep)
    assert sorted(len(p) for p in found) == [2, 2, 3, 3, 3, 3]  # 8 per batch size -> 3 + 3 + 2
    assert all(len({c.batch_size for c in p}) == 1 for p in found)
    assert any(len({c.lr for c in p}) == 2 for p in found)
    assert packs.plan_sweep(sweep, sweep.cells[:1]) == [sweep.cells[:1]]  # only unfinished cells are packed


def test_auto_packs_tiny_models_and_leaves_big_ones_alone():
    cells = parse_sweep({**BASE, "models": ["L1-D8", "L6-D256"]}).cells
    assert packs.auto_size(cells[0], None, 0.0) == packs.MAX_PACK
    assert packs.auto_size(cells[-1], None, 0.0) == 1
    assert packs.auto_size(cells[0], budget=1, gpus=0.0) == 1  # memory caps it
    assert packs.pack_gpus(0.25, 3) == 0.75 and packs.pack_gpus(0.25, 8) == 1.0 and packs.pack_gpus(2, 8) == 2


@pytest.mark.parametrize(
    "change, words",
    [
        ({"pack": 0}, "pack: one of off, auto, on (or yes / no / true / false) or a number of runs per "
                      "pack in [1, 64], got 0"),
        ({"pack": "sometimes"}, "pack: one of off, auto, on"),
        ({"pack": 2, "pack_memory_gb": 0}, "pack_memory_gb: a positive number of GiB"),
        ({"models": ["L12-D768"], "training": {"batch_size": 512}, "pack": 4, "pack_memory_gb": 2},
         "pack: a pack of 4 L12-D768 run(s) (maze size 3, batch 512) needs about"),
    ],
)  # fmt: skip
def test_bad_pack_settings_fail_at_validation(change, words):
    """The setting is the spec's to check; whether a pack fits in memory is planning's (`check_memory`,
    which `validate` and `run_sweep` call before any work)."""
    with pytest.raises(SpecError, match="problem") as err:
        packs.check_memory(parse_sweep({**BASE, **change}, "grid.yaml"))
    assert words in str(err.value) and "grid.yaml" in str(err.value)


SPELLINGS = [(False, "off"), (True, "on"), ("yes", "on"), ("no", "off"), ("off", "off"), ("on", "on"),
             ("auto", "auto"), (4, 4)]  # fmt: skip


@pytest.mark.parametrize(("given", "read"), SPELLINGS)
def test_pack_reads_yaml_booleans_and_yes_no_as_meant(given, read):
    assert parse_sweep({**BASE, "pack": given}).pack == read


def test_pack_auto_never_packs_on_cpu_and_packs_on_gpus():
    """``auto`` is never slower than runs one by one: on CPU (packs measured 0.47-0.53x) one run per
    process; on GPUs (launch-bound) packed as ``on`` packs; validate says which."""
    cells = parse_sweep(BASE).cells
    assert packs.plan_packs(cells, "auto", None, gpus=0.0) == [(c,) for c in cells]
    assert packs.plan_packs(cells, "auto", None, gpus=1.0) == packs.plan_packs(cells, "on", None, gpus=1.0)
    assert [len(p) for p in packs.plan_packs(cells, "on", None, gpus=0.0)] == [4, 4]
    lines = packs.describe(packs.plan_packs(cells, "auto"), None, "auto", 0.0)
    assert "one run per process on CPU" in lines[0]
    assert packs.memory_problems(cells, "auto", budget=1, gpus=0.0) == []  # nothing packed, nothing to fit
