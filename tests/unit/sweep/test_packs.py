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
    """``auto`` is never slower than runs one by one: on CPU (packs measured 0.42-0.77x) one run per
    process; on GPUs (launch-bound) packed as ``on`` packs; validate says which."""
    cells = parse_sweep(BASE).cells
    assert packs.plan_packs(cells, "auto", None, gpus=0.0) == [(c,) for c in cells]
    assert packs.plan_packs(cells, "auto", None, gpus=1.0) == packs.plan_packs(cells, "on", None, gpus=1.0)
    assert [len(p) for p in packs.plan_packs(cells, "on", None, gpus=0.0)] == [4, 4]
    lines = packs.describe(packs.plan_packs(cells, "auto"), None, "auto", 0.0)
    assert "one run per process on CPU" in lines[0]
    assert packs.memory_problems(cells, "auto", budget=1, gpus=0.0) == []  # nothing packed, nothing to fit


GPU = {"resources": {"cpus": 1, "gpus": 0.25}}


def test_a_gpu_pack_is_checked_against_the_gpu_here(monkeypatch):
    """A pack gets its members' GPU fractions (up to a whole GPU), so its memory is that share of
    GPU_MEMORY_SHARE of the GPU nvidia-smi reports (planted: a 2 GiB GPU; a member needs ~0.8 GiB)."""
    monkeypatch.setattr(packs, "gpu_memory_bytes", lambda: 2 * 2**30)
    budget = packs.memory_budget(None, 16, 0.25)
    assert not budget.assumed and budget.source.startswith("0.8 x this machine's GPU")
    assert [budget.of(n) for n in (1, 2, 4, 8)] == [int(2**31 * 0.8 * f) for f in (0.25, 0.5, 1, 1)]
    spec = {**BASE, **GPU, "models": ["L4-D128"], "training": {"batch_size": 256}, "pack": 4}
    with pytest.raises(SpecError, match=r"pack: a pack of 4 L4-D128 run\(s\).*1\.6 GiB it may use"):
        packs.check_memory(parse_sweep(spec, "grid.yaml"))
    packs.check_memory(parse_sweep({**spec, "pack_memory_gb": 64}))  # the user's figure stands
    auto = parse_sweep({**spec, "pack": "auto"})
    packs.check_memory(auto)  # auto shrinks its packs to fit instead: here to one run each
    assert [len(p) for p in packs.plan_sweep(auto)] == [1] * 4


def test_a_gpu_pack_planned_without_a_gpu_needs_pack_memory_gb_unless_auto(monkeypatch):
    monkeypatch.setattr(packs, "gpu_memory_bytes", lambda: None)
    with pytest.raises(SpecError, match=r"pack_memory_gb: required with pack: on on GPUs \(resources.gpus "
                                        r"0.25\) when this machine has no GPU"):  # fmt: skip
        packs.check_memory(parse_sweep({**BASE, **GPU, "pack": "on"}, "grid.yaml"))
    packs.check_memory(parse_sweep({**BASE, **GPU, "pack": 2, "pack_memory_gb": 8}))
    auto = parse_sweep({**BASE, **GPU, "pack": "auto"})
    packs.check_memory(auto)  # sized for an assumed ASSUMED_GPU_GB GPU, and said so
    budget = packs.memory_budget(None, auto.max_concurrent, 0.25)
    assert budget.assumed and budget.bytes == int(packs.ASSUMED_GPU_GB * 2**30 * packs.GPU_MEMORY_SHARE)
    assert "assumed 16 GiB GPU" in packs.describe(packs.plan_sweep(auto), budget, "auto", 0.25)[0]
    packs.check_memory(parse_sweep({**BASE, "pack": "auto"}))  # a CPU sweep: as before


def test_validate_says_packed_runs_train_eager(tmp_path, capsys):
    """On a GPU sweep packed runs do not compile (packs train eager); a pack of one is a solo run,
    compiled or not as `compile` says. Three seeds in packs of at most 2: a pack of 2 and one of 1."""
    import yaml

    from search_scaling.cli import main

    spec = {**BASE, **GPU, "tasks": [{"task": "maze", "sizes": [3, 4]}], "models": ["L1-D8"],
            "seeds": [0, 1, 2], "pack": 2, "pack_memory_gb": 4}  # fmt: skip
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["validate", str(path)]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("compile on cuda: ")]
    assert line == ("compile on cuda: 2 run(s) eager: SEARCH_SCALING_COMPILE=off; "  # tests/conftest.py
                    "4 run(s) packed: eager (packs do not compile)")  # fmt: skip
