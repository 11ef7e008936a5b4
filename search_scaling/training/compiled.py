"""Compiled training steps: ``RunSpec.compile`` (auto | on | off).

What is compiled: the loss of one training step, model forward + masked cross-entropy (and, through
autograd, its backward), with `torch.compile` in one graph (``fullgraph``): inductor kernels on CPU,
inductor plus CUDA graphs (``mode="reduce-overhead"``) on a GPU, where a step of these models is
launch-bound. The optimiser is not compiled; a compiled run's AdamW uses the multi-tensor
(``foreach``) implementation on CPU and the ``fused`` kernel on a GPU. Lightning's loop, clipping,
schedule and checkpoints stay as they are, and the checkpoint holds the plain model's weights (the
compiled function wraps the model, it does not replace it), so a compiled checkpoint resumes eager
and the other way round.

Shapes: on CPU the sequence length is marked dynamic (one compile for every batch width of a run);
on a GPU batches are padded to the context length ``n_ctx`` so that one CUDA graph serves every step
(padding is masked out of the loss and, attention being causal, changes no logit of a real position).

The compile cache: inductor's FX graph and autograd caches live in ``TORCHINDUCTOR_CACHE_DIR``, set
here (unless the user set it) to ``torch-compile`` in the project's cache folder (`cache_dir`:
``$SEARCH_SCALING_CACHE`` or ``~/.cache/search-scaling``), so the processes of a sweep compile a shape
once and later ones load it (measured on a quiet 2-core VM: 23-35 s cold, 3-5 s from the cache).

``auto`` compiles when the run is long enough to repay its compile (`decide`):

    steps * t_step * (1 - 1 / speedup) > t_compile

with t_step the eager step's time estimated from its FLOPs (`EAGER_FLOPS`; on a GPU at least its
kernel launches, `STEP_FLOOR_S_PER_LAYER`), ``speedup`` the measured eager/compiled step-time ratio
(`SPEEDUP`; 1.0 on CPU, so `auto` never compiles there) and t_compile this shape's last measured
compile time on this machine (`COMPILE_LOG` in the cache folder), else the cold figure
`COMPILE_SECONDS`. A compiled run and an eager run of one spec agree within fp32 tolerance for tens
of steps and then drift apart as any two fp32 summation orders do; the run hash names the
experiment, and how it was trained is recorded with it (`RunResult.training_mode`, the runs table's
``training_mode``, an MLflow tag).

Evaluation and packs run eager: an evaluation is a few forward passes every few hundred steps (too
little to repay a compile on CPU), and a pack is a GPU tool whose CUDA-graph capture
`benchmarks/gpu_check.py` measures but training does not use yet.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import torch

from search_scaling.cache import cache_dir

CHOICES = ("auto", "on", "off")
# Set to "off" (the test suite does, in tests/conftest.py): ``auto`` never compiles; ``on`` still does.
COMPILE_ENV = "SEARCH_SCALING_COMPILE"
INDUCTOR_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"
COMPILE_LOG = "compile-seconds.json"  # in the cache folder: measured compile time per shape

# Measured numbers `auto` uses (benchmarks/compile_step.py and gpu_check.py; refresh them from those).
# Cold compile of a training step (empty cache): 23-35 s for L1-D8 .. L3-D64 on 3x3 and 5x5 mazes, 3-5 s
# from the cache (compile_step.json, quiet 2-core VM). GPU: to be set from benchmarks/gpu_check.py.
COMPILE_SECONDS = {"cpu": 35.0, "cuda": 120.0}  # cuda: a guess until gpu_check has run
# Model FLOP/s of an eager training step: CPU 13-17 GFLOP/s at L2-D32 on one thread (MFU 14-18.5%;
# on one thread 3-9 GFLOP/s for L1-D8/L2-D16 and 30-41 for L3-D64, 45-47 on two); GPU: a
# launch-bound tiny model, ~1% of an H100's bf16 peak (provisional).
EAGER_FLOPS = {"cpu": 1.5e10, "cuda": 1.0e13}
# Eager / compiled step time (the compiled step's speedup). CPU: 0.95-1.20x over 16 configurations
# (L1-D8 .. L3-D64, 3x3 and 5x5, 1 and 2 threads), 0.86-1.15x in the second (cache-warm) process
# (0.96x and 1.23x in the goal check's), and not reproducible (L2-D32 5x5 on
# 2 threads: 1.10x in one run, 0.95x in the next): a CPU step of these models is memory-bound, and
# inductor's fusion buys nothing dependable, so `auto` never compiles on CPU (1.0: nothing to repay
# a compile with). GPU: CUDA graphs remove the launch overhead of launch-bound models (provisional
# until gpu_check measures it).
SPEEDUP = {"cpu": 1.0, "cuda": 2.0}
# The least an eager step takes per layer, whatever its FLOPs: on a GPU a tiny model's step is its
# kernel launches (~60 a layer forward + backward at ~10 us each; provisional, see gpu_check).
STEP_FLOOR_S_PER_LAYER = {"cpu": 0.0, "cuda": 6e-4}


def canonical(value) -> str:
    """YAML 1.1 reads bare ``on`` / ``off`` / ``yes`` / ``no`` as booleans: take them as meant."""
    if value is True:
        return "on"
    if value is False:
        return "off"
    return value


def problem(value) -> str | None:
    if canonical(value) in CHOICES:
        return None
    return f"compile must be one of {list(CHOICES)} (or true / false), got {value!r}"


def decide(spec, steps: int, device: str, step_tokens: float | None = None) -> tuple[bool, str]:
    """(compile?, why) for the run ``spec`` of ``steps`` steps on ``device`` (cpu | cuda | mps);
    ``step_tokens``: tokens a step computes (default: the batch at full context)."""
    mode = canonical(spec.compile)
    if mode == "off":
        return False, "compile: off"
    if device not in COMPILE_SECONDS:
        return False, f"eager: no compiled step on {device}"
    if spec.interventions:  # hooks registered and removed mid-run would recompile the step each time
        return False, "eager: its interventions hook the model during training"
    if mode == "on":
        return True, "compile: on"
    if os.environ.get(COMPILE_ENV, "").lower() == "off":
        return False, f"eager: {COMPILE_ENV}=off"
    if SPEEDUP[device] <= 1.0:
        return False, f"eager: compiling does not pay on {device} (measured; `compile: on` forces it)"
    from search_scaling.models import flops_per_token

    cfg = spec.model_config
    tokens = step_tokens or spec.batch_size * cfg.n_ctx
    step_s = max(flops_per_token(cfg) * tokens / EAGER_FLOPS[device],
                 cfg.n_layers * STEP_FLOOR_S_PER_LAYER[device])  # fmt: skip
    saved = steps * step_s * (1 - 1 / SPEEDUP[device])
    cost = measured_compile_seconds(shape_key(spec, device)) or COMPILE_SECONDS[device]
    verdict = "compiled" if saved > cost else "eager"
    return saved > cost, (f"{verdict}: saves ~{saved:.0f} s of ~{steps * step_s:.0f} s for ~{cost:.0f} s "
                          "of compile")  # fmt: skip


def describe(planned, device: str, packed: set[str] = frozenset()) -> list[str]:
    """`validate`'s line: of the (cell, steps) ``planned``, how many compile their step on ``device``,
    and why the others do not (a cell with interventions, or whose hash is in ``packed``, trains
    eager whatever ``compile`` says: packs do not compile)."""
    verdicts: dict[str, int] = {}
    for cell, steps in planned:
        if cell.run_hash in packed:
            on, why = False, "packed: eager (packs do not compile)"
        else:
            on, why = decide(cell, steps, device)
        if " saves " in why:  # auto's verdict: its figures differ per cell
            why = "auto: compiled (long enough to repay)" if on else "auto: eager (too short to repay)"
        verdicts[why] = verdicts.get(why, 0) + 1
    return [f"compile on {device}: " + "; ".join(f"{n} run(s) {why}" for why, n in sorted(verdicts.items()))]


# -- the compiled step ------------------------------------------------------------------------------
def use_cache_dir() -> Path:
    """Point inductor's caches at the project's cache folder (unless the user chose another)."""
    if not os.environ.get(INDUCTOR_CACHE_ENV):
        os.environ[INDUCTOR_CACHE_ENV] = str(cache_dir() / "torch-compile")
    return Path(os.environ[INDUCTOR_CACHE_ENV])


def compile_loss(loss_fn, device: torch.device, backend: str = "inductor"):
    """``loss_fn(inputs, tokens, mask)`` compiled for ``device`` (a CUDA graph on a GPU). ``backend``
    ``eager`` traces without generating kernels (benchmarks' dry runs: seconds instead of minutes)."""
    use_cache_dir()
    cuda = device.type == "cuda"
    mode = "reduce-overhead" if cuda and backend == "inductor" else None
    return torch.compile(loss_fn, backend=backend, mode=mode, fullgraph=True, dynamic=False if cuda else None)


def prepare(batch: dict, device: torch.device, width: int) -> tuple[torch.Tensor, ...]:
    """(inputs, tokens, mask) of a training batch, shaped for the compiled step: the length marked
    dynamic on CPU; padded to ``width`` (the context) on a GPU, one shape for one CUDA graph."""
    tokens, mask = batch["tokens"], batch["mask"]  # [B, T]
    inputs = batch.get("inputs", tokens)
    if device.type == "cuda":
        pad = width - tokens.shape[1]
        if pad > 0:
            tokens, inputs = (torch.nn.functional.pad(t, (0, pad)) for t in (tokens, inputs))
            mask = torch.nn.functional.pad(mask, (0, pad))
        torch.compiler.cudagraph_mark_step_begin()  # the previous step's graph outputs are done with
    else:
        for t in (tokens, inputs, mask):
            torch._dynamo.maybe_mark_dynamic(t, 1)
    return inputs, tokens, mask


def optimizer_kwargs(compiled: bool, device: str) -> dict:
    """AdamW's implementation: multi-tensor (CPU) or fused (GPU) for a compiled run; the default
    (what every eager run so far used) otherwise."""
    if not compiled:
        return {}
    return {"fused": True} if device == "cuda" else {"foreach": True}


# -- measured compile times, kept across processes ------------------------------------------------------
def shape_key(spec, device: str) -> str:
    """What one compile serves: the model's shape, the batch, the device and torch's version."""
    cfg = spec.model_config.to_dict()
    return json.dumps({"model": cfg, "batch": spec.batch_size, "device": device, "torch": torch.__version__},
                      sort_keys=True)  # fmt: skip


def _log_path() -> Path:
    return cache_dir() / COMPILE_LOG


def measured_compile_seconds(key: str) -> float | None:
    try:
        return json.loads(_log_path().read_text()).get(key)
    except (OSError, ValueError):
        return None


def record_compile_seconds(key: str, seconds: float) -> None:
    """Keep the latest compile time of ``key`` (atomic replace; a lost race loses one figure)."""
    path = _log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.loads(path.read_text()) if path.exists() else {}
        data[key] = round(seconds, 2)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass  # a cache that cannot be written only costs `auto` its measured figure


class FirstCallTimer:
    """Times the first call of a compiled step (the compile) and records it under ``key``."""

    def __init__(self, key: str):
        self.key, self.start, self.seconds = key, None, None

    def __enter__(self):
        if self.seconds is None:
            self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.seconds is None and exc[0] is None:
            self.seconds = time.perf_counter() - self.start
            record_compile_seconds(self.key, self.seconds)
