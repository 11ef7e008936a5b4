"""Packs: which cells of a sweep train together as one stacked model (`training.pack`).

    pack: auto        # off (default) | auto | on | N (at most N runs per pack)
    pack_memory_gb: 8 # the memory one pack may use (default: see `memory_budget`; needed for
                      # `on` / N on GPUs when the machine that plans has no GPU to read it from)

Cells pack when they differ only in the per-member scalars (`pack_run.PACKABLE`: seed, lr, warm-up,
weight decay, ...) and share model, task, problem size, batch and budget. ``on`` packs a group of
such cells until one training step of the pack does about `STEP_FLOPS` of work, the point past
which a bigger pack stops paying on that kind of device (tiny models are launch-bound; a model that
already fills the device gains nothing), within `MAX_PACK` and the memory budget. ``auto`` does the
same where packs pay, and trains one run per process where they do not: on CPU, where a pack of 16
ran at 0.47-0.53x of the same runs one after another (issue 33's measurement; 0.42x explicit and 0.77x
fused attention at L2-D16 5x5 in benchmarks/RESULTS.md; a hand-stacked model at 0.8-1.0x in the
issue: a CPU step of these models is memory-bound), so on CPU ``auto`` is ``off``; on GPUs it packs
by an uncalibrated ``STEP_FLOPS["gpu"]`` until benchmarks/gpu_check.py has run (YAML's
bare on / off / yes / no: `spec.canonical_pack_setting`). A group larger than its pack size is
split into packs of nearly equal size. Only cells still to run are packed,
so a pack whose members are partly finished trains only the unfinished ones.

Memory (`memory_budget`): a pack that cannot fit is an error at `validate`, not an out-of-memory
at run time. On GPUs the figure is read from this machine's GPU (nvidia-smi); where the machine that
plans has none, ``on`` / N need ``pack_memory_gb`` and ``auto`` sizes packs for an assumed
`ASSUMED_GPU_GB` GPU, which `validate` says.
"""

from __future__ import annotations

import functools
import math
import os
import subprocess
from dataclasses import dataclass

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
# Of a GPU's memory, what packs may fill: the rest is the CUDA context (~0.5 GiB), the allocator's
# fragmentation and evaluation's batches.
GPU_MEMORY_SHARE = 0.8
# The GPU `pack: auto` sizes packs for when the machine that plans has none to read (validating a GPU
# sweep on a laptop): the smallest data-centre GPU the project expects (T4, V100-16GB).
ASSUMED_GPU_GB = 16


@dataclass(frozen=True)
class Budget:
    """The memory one pack may use. ``per_trial_gpus`` > 0: ``bytes`` is one whole GPU's share, of
    which a pack gets what Ray gives it (`pack_gpus`: its members' fractions, up to the whole GPU)."""

    bytes: int
    source: str  # where the figure comes from, as `validate` and errors say it
    per_trial_gpus: float = 0.0
    assumed: bool = False  # ASSUMED_GPU_GB: no GPU here to read

    def of(self, members: int) -> int:
        if self.per_trial_gpus <= 0:
            return self.bytes
        return int(self.bytes * min(1.0, pack_gpus(self.per_trial_gpus, members)))


def limit(budget: Budget | int | None, members: int) -> int | None:
    """Bytes a pack of ``members`` may use (``budget`` a `Budget`, plain bytes or None: unchecked)."""
    return budget.of(members) if isinstance(budget, Budget) else budget


def plan_sweep(sweep: SweepSpec, cells=None) -> list[tuple]:
    """``cells`` of ``sweep`` (default: all) grouped into the packs they train in (one each with
    pack: off)."""
    budget = memory_budget(sweep.pack_memory_gb, sweep.max_concurrent, sweep.resources.gpus)
    cells = sweep.cells if cells is None else cells
    return plan_packs(cells, sweep.pack, budget, sweep.resources.gpus)


def check_memory(sweep: SweepSpec) -> None:
    """`SpecError` naming each pack that cannot fit in memory, before any work: `validate` and
    `run_sweep` call it (the machine's memory is planning's input, not the spec's)."""
    gpus = sweep.resources.gpus
    budget = memory_budget(sweep.pack_memory_gb, sweep.max_concurrent, gpus)
    if budget is not None and budget.assumed and sweep.pack not in ("off", "auto"):
        raise SpecError(sweep.path, [
            f"pack_memory_gb: required with pack: {sweep.pack} on GPUs (resources.gpus {gpus:g}) when this "
            "machine has no GPU to read their memory from (nvidia-smi finds none): the GiB one pack may "
            f"use on the sweep's GPUs, e.g. {GPU_MEMORY_SHARE:g} x a GPU's memory (`pack: auto` sizes "
            f"packs for an assumed {ASSUMED_GPU_GB} GiB GPU instead)"])  # fmt: skip
    problems = memory_problems(sweep.cells, sweep.pack, budget, gpus)
    if problems:
        raise SpecError(sweep.path, problems)


def packs_pay(gpus: float) -> bool:
    """Whether ``pack: auto`` packs on this kind of device: on GPUs (launch-bound), not on CPU."""
    return gpus > 0


def memory_budget(pack_memory_gb: float | None, max_concurrent: int, gpus: float) -> Budget:
    """The memory one pack may use: ``pack_memory_gb`` if set; on CPU, half this machine's memory
    shared by the ``max_concurrent`` packs that run at once; on GPUs, `GPU_MEMORY_SHARE` of the
    smallest GPU here (`gpu_memory_bytes`), of which a pack gets its share (`Budget`), else of an
    assumed `ASSUMED_GPU_GB` GPU."""
    if pack_memory_gb is not None:
        return Budget(int(pack_memory_gb * 2**30), "pack_memory_gb")
    if gpus > 0:
        found = gpu_memory_bytes()
        total = found or ASSUMED_GPU_GB * 2**30
        where = (
            "this machine's GPU" if found else f"an assumed {ASSUMED_GPU_GB} GiB GPU, there being none here"
        )
        return Budget(int(total * GPU_MEMORY_SHARE), f"{GPU_MEMORY_SHARE:g} x {where}; a pack gets its "
                      "members' share of it", gpus, assumed=not found)  # fmt: skip
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return Budget(int(total * MEMORY_SHARE / max(1, max_concurrent)),
                  "half this machine's memory / max_concurrent")  # fmt: skip


@functools.cache
def gpu_memory_bytes() -> int | None:
    """The smallest GPU's memory on this machine (nvidia-smi: no CUDA context in this process, which
    may be a sweep's driver), or None without an NVIDIA GPU."""
    query = ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"]
    try:
        out = subprocess.run(query, capture_output=True, text=True, timeout=30, check=True).stdout
        return min(int(float(line)) for line in out.split()) * 2**20 or None  # MiB per GPU
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def auto_size(spec, budget: Budget | int | None, gpus: float) -> int:
    """How many runs shaped like ``spec`` one pack holds under ``pack: auto``."""
    cfg = spec.model_config
    step = flops_per_token(cfg) * spec.batch_size * cfg.n_ctx
    size = max(1, min(MAX_PACK, int(STEP_FLOPS["gpu" if gpus > 0 else "cpu"] // step)))
    while size > 1 and budget is not None and pack_memory_bytes(spec, size) > limit(budget, size):
        size -= 1
    return size


def plan_packs(cells, setting, budget: Budget | int | None = None, gpus: float = 0.0) -> list[tuple]:
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


def memory_problems(cells, setting, budget: Budget | int | None, gpus: float = 0.0) -> list[str]:
    """One problem per pack shape whose pack cannot fit in its ``budget`` (each named). A pack of one
    is a solo run, which packing does not make bigger: not checked, as with ``pack: off``."""
    if setting == "off" or budget is None or (setting == "auto" and not packs_pay(gpus)):
        return []
    problems, said = [], set()
    for pack in plan_packs(cells, setting, budget, gpus):
        need, allowed = pack_memory_bytes(pack[0], len(pack)), limit(budget, len(pack))
        key = (pack_key(pack[0]), len(pack))
        if need <= allowed or key in said or len(pack) == 1:
            continue
        said.add(key)
        spec, source = pack[0], getattr(budget, "source", "pack_memory_gb")
        source = source if source == "pack_memory_gb" else f"{source}; pack_memory_gb sets it"
        problems.append(
            f"pack: a pack of {len(pack)} {spec.model} run(s) ({spec.task} size {spec.size}, batch "
            f"{spec.batch_size}) needs about {need / 2**30:.1f} GiB, more than the {allowed / 2**30:.1f} "
            f"GiB it may use ({source}): lower pack, batch_size or max_concurrent"
        )
    return problems


def pack_gpus(gpus: float, members: int) -> float:
    """A pack's GPU request: the fractions its members would have had, up to one whole GPU."""
    if gpus <= 0 or gpus >= 1:
        return gpus
    return min(1.0, gpus * members)


def describe(packs: list[tuple], budget: Budget | int | None, setting="on", gpus: float = 0.0) -> list[str]:
    """`validate`'s lines: one per pack."""
    if setting == "auto" and not packs_pay(gpus):
        return ["auto: one run per process on CPU (packs measured 0.42-0.77x of sequential runs there); "
                "`pack: on` packs anyway"]  # fmt: skip
    lines = [f"{len(packs)} pack(s); memory per pack {_budget_words(budget)}"]
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


def _budget_words(budget: Budget | int | None) -> str:
    if budget is None:
        return "not checked (set pack_memory_gb)"
    if not isinstance(budget, Budget):
        return f"<= {budget / 2**30:.1f} GiB"
    return f"<= {budget.bytes / 2**30:.1f} GiB ({budget.source})"
