"""Packs: which cells of a sweep train together as one stacked model (`training.pack`).

    pack: auto        # off (default) | auto | on | N (at most N runs per pack)
    pack_memory_gb: 8 # optional: the memory one pack may use (default: see `memory_budget`)

Cells pack when they differ only in the per-member scalars (`pack_run.PACKABLE`: seed, lr, warm-up,
weight decay, ...) and share model, task, problem size, batch and budget. ``on`` packs a group of
such cells until one training step of the pack does about `STEP_FLOPS` of work, the point past
which a bigger pack stops paying on that kind of device (tiny models are launch-bound; a model that
already fills the device gains nothing), within `MAX_PACK` and the memory budget. ``auto`` does the
same where packs pay, and trains one run per process where they do not: on CPU, where a pack of 16
ran at 0.47-0.53x of the same runs one after another (and a hand-stacked model at 0.8-1.0x: a CPU
step of these models is memory-bound, issue 33), so ``auto`` never makes a sweep slower (YAML's
bare on / off / yes / no: `spec.canonical_pack_setting`). A group larger than its pack size is
split into packs of nearly equal size. Only cells still to run are packed,
so a pack whose members are partly finished trains only the unfinished ones.
"""

from __future__ import annotations

import math
import os

from search_scaling.models import flops_per_token
from search_scaling.sweep.spec import MAX_PACK, SpecError, SweepSpec
from search_scaling.training.pack_shape import pack_key, pack_memory_bytes

# Work per training step (FLOPs, forward + backward) that one pack aims at. CPU: L3-D64 at batch 64
# already does ~4e9 per step alone (compute-bound, so it is not packed), L1-D8 ~4e7 (packed ~64).
# GPU: launch-bound below ~1 ms of an H200's work. To be calibrated with benchmarks/pack_throughput.py
# and benchmarks/gpu_check.py.
STEP_FLOPS = {"cpu": 4e9, "gpu": 5e11}
# Run fields a pack does not implement (a run that starts from another's weights, freezes parts of
# its model or intervenes on it during training): a cell that sets one trains alone, whatever
# ``pack`` says. Named eval sets, with their ablations, do work in packs.
SOLO_ONLY = ("init_from", "freeze", "interventions")
MEMORY_SHARE = 0.5  # of this machine's memory, split between the packs that run at once


def plan_sweep(sweep: SweepSpec, cells=None) -> list[tuple]:
    """``cells`` of ``sweep`` (default: all) grouped into the packs they train in (one each with
    pack: off)."""
    budget = memory_budget(sweep.pack_memory_gb, sweep.max_concurrent, sweep.resources.gpus)
    cells = sweep.cells if cells is None else cells
    return plan_packs(cells, sweep.pack, budget, sweep.resources.gpus)


def check_memory(sweep: SweepSpec) -> None:
    """`SpecError` naming each pack that cannot fit in memory, before any work: `validate` and
    `run_sweep` call it (the machine's memory is planning's input, not the spec's)."""
    budget = memory_budget(sweep.pack_memory_gb, sweep.max_concurrent, sweep.resources.gpus)
    problems = memory_problems(sweep.cells, sweep.pack, budget, sweep.resources.gpus)
    if problems:
        raise SpecError(sweep.path, problems)


def packs_pay(gpus: float) -> bool:
    """Whether ``pack: auto`` packs on this kind of device: on GPUs (launch-bound), not on CPU."""
    return gpus > 0


def memory_budget(pack_memory_gb: float | None, max_concurrent: int, gpus: float) -> int | None:
    """Bytes one pack may use: ``pack_memory_gb`` if set; on CPU, half this machine's memory shared
    by the ``max_concurrent`` packs that run at once; on GPU (unknown when validating on another
    machine) None: not checked unless ``pack_memory_gb`` says."""
    if pack_memory_gb is not None:
        return int(pack_memory_gb * 2**30)
    if gpus > 0:
        return None
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(total * MEMORY_SHARE / max(1, max_concurrent))


def auto_size(spec, budget: int | None, gpus: float) -> int:
    """How many runs shaped like ``spec`` one pack holds under ``pack: auto``."""
    cfg = spec.model_config
    step = flops_per_token(cfg) * spec.batch_size * cfg.n_ctx
    size = max(1, min(MAX_PACK, int(STEP_FLOPS["gpu" if gpus > 0 else "cpu"] // step)))
    while size > 1 and budget is not None and pack_memory_bytes(spec, size) > budget:
        size -= 1
    return size


def plan_packs(cells, setting, budget: int | None = None, gpus: float = 0.0) -> list[tuple]:
    """The cells grouped into packs (tuples, in the order of their first cell); ``off`` (and ``auto``
    where packs do not pay): one each."""
    if setting == "off" or (setting == "auto" and not packs_pay(gpus)):
        return [(cell,) for cell in cells]
    groups: dict[str, list] = {}
    for cell in cells:
        alone = trains_alone(cell)
        groups.setdefault(cell.run_hash if alone else pack_key(cell), []).append(cell)
    packs = []
    for group in groups.values():
        size = setting if isinstance(setting, int) else auto_size(group[0], budget, gpus)
        n = math.ceil(len(group) / size)
        bounds = [round(i * len(group) / n) for i in range(n + 1)]  # nearly equal packs
        packs += [tuple(group[a:b]) for a, b in zip(bounds, bounds[1:])]
    return packs


def trains_alone(cell) -> list[str]:
    """The fields of ``cell`` that make it train alone (`SOLO_ONLY`); [] if it can share a pack."""
    return [name for name in SOLO_ONLY if getattr(cell, name, None)]


def memory_problems(cells, setting, budget: int | None, gpus: float = 0.0) -> list[str]:
    """One problem per pack shape whose pack cannot fit in ``budget`` bytes (each named)."""
    if setting == "off" or budget is None or (setting == "auto" and not packs_pay(gpus)):
        return []
    problems, said = [], set()
    for pack in plan_packs(cells, setting, budget, gpus):
        need = pack_memory_bytes(pack[0], len(pack))
        key = (pack_key(pack[0]), len(pack))
        if need > budget and key not in said:
            said.add(key)
            spec = pack[0]
            problems.append(
                f"pack: a pack of {len(pack)} {spec.model} run(s) ({spec.task} size {spec.size}, batch "
                f"{spec.batch_size}) needs about {need / 2**30:.1f} GiB, more than the {budget / 2**30:.1f} "
                "GiB a pack may use (pack_memory_gb, else half this machine's memory / max_concurrent): "
                "lower pack, batch_size or max_concurrent"
            )
    return problems


def pack_gpus(gpus: float, members: int) -> float:
    """A pack's GPU request: the fractions its members would have had, up to one whole GPU."""
    if gpus <= 0 or gpus >= 1:
        return gpus
    return min(1.0, gpus * members)


def describe(packs: list[tuple], budget: int | None, setting="on", gpus: float = 0.0) -> list[str]:
    """`validate`'s lines: one per pack."""
    if setting == "auto" and not packs_pay(gpus):
        return ["auto: one run per process on CPU (packs measured 0.47-0.53x of sequential runs there); "
                "`pack: on` packs anyway"]  # fmt: skip
    limit = f"<= {budget / 2**30:.1f} GiB" if budget is not None else "not checked (set pack_memory_gb)"
    lines = [f"{len(packs)} pack(s); memory per pack {limit}"]
    for i, pack in enumerate(packs):
        spec = pack[0]
        need = pack_memory_bytes(spec, len(pack)) / 2**20
        hashes = " ".join(c.run_hash[:8] for c in pack)
        lines.append(f"  pack {i:3d}: {len(pack):2d} x {spec.model:8s} {spec.task} size {spec.size}  "
                     f"~{need:,.0f} MiB  [{hashes}]")  # fmt: skip
    alone = {c.run_hash: trains_alone(c) for pack in packs for c in pack if trains_alone(c)}
    if alone:
        fields_ = sorted({f for fs in alone.values() for f in fs})
        lines.append(f"{len(alone)} run(s) train alone: they set {', '.join(fields_)}, which packs do not "
                     "implement (named eval sets and their ablations do work in packs)")  # fmt: skip
    return lines
