"""GPU check for compiled steps, packs and CUDA graphs (issues 18, 33): one command, at most ~8
minutes on one GPU, one JSON.

    python benchmarks/gpu_check.py [--out benchmarks/results/gpu_check.json] [--budget-s 360]
                                   [--hard-limit-s 450]
    python benchmarks/gpu_check.py --device cpu --dry-run   # every code path on CPU, tiny, no figures

Time: no measurement starts after ``--budget-s``; at ``--hard-limit-s`` (from the start of `main`;
imports add ~10-20 s) a watchdog kills the workers, writes what was measured (with
``hard_limit_reached``) and exits 3, whatever the check is doing (`gpu_check_report.HardLimit`).

Measured in bf16 autocast with fp32 weights (Lightning's ``bf16-mixed``, what a sweep uses on GPU):
  1. the peak: the device's dense bf16 peak from `PEAK_BF16` (by device name) and a measured bf16
     matmul peak; MFU is reported against both;
  2. training: real (non-padding) tokens/s and MFU for L2-D32, L4-D128 and L6-D256 at pack sizes
     1, 16 and 64, eager and with forward + backward captured in a CUDA graph
     (`torch.cuda.make_graphed_callables`; clipping and the optimiser stay eager);
  3. compiled steps: the solo training step of `train_one` (`training.compiled`: forward + masked
     loss compiled with inductor and CUDA graphs, ``mode="reduce-overhead"``, batches padded to the
     context; fused AdamW) against the eager step, for L2-D32 and L4-D128: compile seconds (cold
     cache: a fresh TORCHINDUCTOR_CACHE_DIR), tokens/s, speedup, MFU and the break-even steps, the
     numbers `compiled.COMPILE_SECONDS` / `SPEEDUP` / `EAGER_FLOPS` ("cuda") should be set from;
  4. through Lightning: `train_one` of L2-D32 for 60 steps with ``compile: on`` and ``off`` (the
     training mode recorded, the final held-out losses' difference);
  5. sharing: four one-run processes training at once on the GPU (what fractional Ray GPUs give)
     against one process training a pack of four, in aggregate tokens/s.
Packs run attention with the fused kernel, members folded into the batch (`FoldedCausalAttention`);
``vmap_fallbacks`` counts vmap's "no batching rule" warnings during the check (0 expected).
A step is the pack's training step (`PackModule`: forward, summed loss, backward, per-member
clipping, `PackedAdamW`); batches are padded to the context length so that a graph sees fixed
shapes (eager too, for a like-for-like comparison). A measurement that would overrun the time budget
is skipped and says so. Without CUDA it refuses to run (``--device cpu --dry-run`` exercises every
code path in about a minute, compiling with the ``eager`` backend: no figures).

At the end it prints, and records as ``suggested``, the settings its figures give (`gpu_check_report`:
`compiled.py`'s COMPILE_SECONDS / SPEEDUP / EAGER_FLOPS / STEP_FLOOR_S_PER_LAYER for "cuda", `packs.py`'s
STEP_FLOPS["gpu"], the best pack size per model, whether packs beat sharing processes, and
`sweeps/maze_grid.yaml`'s ``resources.gpus`` and ``pack``), each with the measurement it comes from.
Apply them by hand, from a real GPU run (``"apply": true``), with the date and device beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning as L
import torch
from gpu_check_report import HardLimit, lines, write

from search_scaling.models import Transformer
from search_scaling.training import RunSpec, compiled
from search_scaling.training.data import StepBatches
from search_scaling.training.module import SequenceModel, masked_loss
from search_scaling.training.pack import PackBatches, PackModule
from search_scaling.training.run import plan_run

# Dense (no sparsity) bf16 tensor-core peaks, FLOP/s, from the vendors' data sheets.
PEAK_BF16 = {"H200": 989e12, "H100 SXM": 989e12, "H100 NVL": 835e12, "H100 PCIe": 756e12, "H100": 756e12,
             "GH200": 989e12, "B200": 2250e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12,
             "RTX 4090": 165e12}  # fmt: skip
MODELS, PACKS, SHARED = ("L2-D32", "L4-D128", "L6-D256"), (1, 16, 64), 4
COMPILED_MODELS = ("L2-D32", "L4-D128")  # a cold compile takes ~1 minute each
DISTINCT_BATCHES = 8  # generating mazes for 64 members x every step would dominate the check's time


def peak_from_table(name: str) -> float | None:
    """The longest table key found in the device name (so "H100 SXM" wins over "H100")."""
    hits = [key for key in PEAK_BF16 if key.lower() in name.lower()]
    return PEAK_BF16[max(hits, key=len)] if hits else None


def measured_peak(device: torch.device, n: int = 8192, reps: int = 20) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)


class Bench:
    """One pack of ``k`` runs of ``model`` on ``device``, its fixed-shape batches made in advance."""

    def __init__(self, model: str, k: int, device: torch.device, size: int, steps: int):
        self.specs = [RunSpec(task="maze", size=size, model=model, seed=s, steps=steps, eval_examples=8,
                              precision="bf16-mixed") for s in range(k)]  # fmt: skip
        held_out, total, scale = plan_run(self.specs[0])
        self.flops_per_token, self.device = scale["flops_per_token"], device
        cfg = self.specs[0].model_config  # a step's work as `packs.auto_size` counts it (full context)
        self.step_flops = k * self.flops_per_token * self.specs[0].batch_size * cfg.n_ctx
        members = []
        for spec in self.specs:
            L.seed_everything(spec.derived_seed("init") % 2**32, verbose=False)
            members.append(Transformer(spec.model_config))
        self.module = PackModule(self.specs, total, members).to(device)
        self.optimizer = self.module.configure_optimizers()
        data, width = PackBatches(self.specs, total, self.module.active), self.specs[0].model_config.n_ctx
        batches = [data.batch(s) for s in range(min(total, DISTINCT_BATCHES))]  # then cycled
        n_tokens = [int(b.pop("n_tokens").sum()) for b in batches]  # counted here: no sync a step
        self.n_tokens = [n_tokens[s % len(batches)] for s in range(total)]
        moved = [_pad({key: v.to(device) for key, v in b.items()}, width) for b in batches]
        self.batches = [moved[s % len(moved)] for s in range(total)]

    def loss_fn(self):
        module = self.module

        class Loss(torch.nn.Module):  # the part a CUDA graph captures: forward and (its) backward
            def __init__(self):
                super().__init__()
                self.packed = module.packed

            def forward(self, tokens, mask):
                logits = self.packed(tokens[:, :, :-1])
                return torch.vmap(masked_loss)(logits, tokens, mask).sum()

        return Loss()

    def run(self, graphed: bool, warmup: int = 3) -> dict:
        loss_fn = self.loss_fn()
        if graphed:
            first = self.batches[0]
            with autocast(self.device):
                loss_fn = torch.cuda.make_graphed_callables(loss_fn, (first["tokens"], first["mask"]))
        tokens = 0
        for step, batch in enumerate(self.batches):
            if step == warmup:
                sync(self.device)
                start = time.perf_counter()
            with autocast(self.device):
                loss = loss_fn(batch["tokens"], batch["mask"])
            self.optimizer.zero_grad(set_to_none=False)  # graphs need the gradient buffers kept
            loss.backward()
            self.module.configure_gradient_clipping(self.optimizer)
            self.optimizer.step()
            if step >= warmup:
                tokens += self.n_tokens[step]
        sync(self.device)
        seconds = time.perf_counter() - start
        return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
                "flops_per_s": tokens * self.flops_per_token / seconds,
                "step_flops": self.step_flops}  # fmt: skip


def _pad(batch: dict, width: int) -> dict:
    pad = width - batch["tokens"].shape[-1]
    if pad > 0:
        batch["tokens"] = torch.nn.functional.pad(batch["tokens"], (0, pad))
        batch["mask"] = torch.nn.functional.pad(batch["mask"], (0, pad))
    return batch


def training(args, device: torch.device, peaks: dict, deadline: float, rows: list) -> None:
    """Every model x pack size, eager and graphed, appended to ``rows`` as measured."""
    for model in args.models:
        for k in args.packs:
            _both_ways(model, k, args, device, peaks, deadline, rows)
            if device.type == "cuda":
                torch.cuda.empty_cache()


def _both_ways(model: str, k: int, args, device, peaks: dict, deadline: float, rows: list) -> None:
    """Eager, then with a CUDA graph, on one pack (its batches are made once)."""
    bench = None
    for graphed in (False, True):
        row = {"model": model, "pack": k, "cuda_graph": graphed}
        if graphed and device.type != "cuda":
            rows.append({**row, "skipped": "CUDA graphs need CUDA"})
            continue
        if time.perf_counter() > deadline:
            rows.append({**row, "skipped": "time budget spent"})
            continue
        try:
            bench = bench or Bench(model, k, device, args.size, args.steps)
            got = bench.run(graphed)
        except Exception as err:  # noqa: BLE001 -- recorded, the check goes on (e.g. out of memory)
            rows.append({**row, "error": f"{type(err).__name__}: {str(err)[:300]}"})
            continue
        mfu = {f"mfu_{name}": got["flops_per_s"] / peak for name, peak in peaks.items() if peak}
        rows.append({**row, **got, **mfu})
        print(json.dumps(rows[-1]), flush=True)


def compiled_steps(args, device: torch.device, peaks: dict, deadline: float, rows: list) -> None:
    """Eager vs compiled solo training steps, one model at a time (`Solo`), appended to ``rows``."""
    for model in args.compiled_models:
        if time.perf_counter() > deadline:
            rows.append({"model": model, "skipped": "time budget spent"})
            continue
        try:
            rows.append({"model": model, **Solo(model, device, args).compare(peaks)})
        except Exception as err:  # noqa: BLE001 -- recorded, the check goes on
            rows.append({"model": model, "error": f"{type(err).__name__}: {str(err)[:300]}"})
        print(json.dumps(rows[-1]), flush=True)


class Solo:
    """One run's training step as `train_one` takes it (forward, loss, backward, clipping, AdamW),
    eager or compiled, in bf16 autocast on ``device``; its batches made in advance, then cycled."""

    def __init__(self, model: str, device: torch.device, args):
        self.spec = RunSpec(task="maze", size=args.size, model=model, steps=args.steps, eval_examples=8,
                            precision="bf16-mixed")  # fmt: skip
        _, self.total, scale = plan_run(self.spec)
        self.flops_per_token, self.device, self.backend = scale["flops_per_token"], device, args.backend
        # a step's work as `compiled.decide` counts it (the batch at full context): EAGER_FLOPS's unit
        self.full_step_flops = self.flops_per_token * self.spec.batch_size * self.spec.model_config.n_ctx
        spec = self.spec
        data = StepBatches(spec.train_task, spec.size, spec.derived_seed("data", data_only=True),
                           spec.batch_size, self.total, spec.loss_mask, spec.mask_switch)  # fmt: skip
        batches = [b for _, b in zip(range(min(self.total, DISTINCT_BATCHES)), data)]
        self.n_tokens = [int(b.pop("n_tokens")) for b in batches]
        self.batches = [{k: v.to(device) for k, v in b.items()} for b in batches]

    def compare(self, peaks: dict) -> dict:
        eager, fast = self.run(False), self.run(True)
        saved = 1 / eager["tokens_per_s"] - 1 / fast["tokens_per_s"]  # seconds per token
        tokens_per_step = sum(self.n_tokens) / len(self.n_tokens)
        out = {"compile_s": fast["first_step_s"], "eager_tokens_per_s": eager["tokens_per_s"],
               "compiled_tokens_per_s": fast["tokens_per_s"],
               "speedup": fast["tokens_per_s"] / eager["tokens_per_s"],
               "eager_step_s": tokens_per_step / eager["tokens_per_s"],
               "compiled_step_s": tokens_per_step / fast["tokens_per_s"],
               "break_even_steps": fast["first_step_s"] / (saved * tokens_per_step) if saved > 0
               else None, "n_layers": self.spec.model_config.n_layers}  # fmt: skip
        out["eager_flops_per_s"] = self.full_step_flops / out["eager_step_s"]  # as `compiled.decide` counts
        for name, got in (("eager", eager), ("compiled", fast)):
            flops = got["tokens_per_s"] * self.flops_per_token
            out |= {f"mfu_{name}_{k}": flops / peak for k, peak in peaks.items() if peak}
        return out

    def run(self, compile_step: bool, warmup: int = 3) -> dict:
        L.seed_everything(0, verbose=False)
        module = SequenceModel(self.spec, self.total, compile_step).to(self.device)
        optimizer = module.configure_optimizers()["optimizer"]  # fused AdamW when compiled on a GPU
        n_ctx = self.spec.model_config.n_ctx
        loss_fn = compiled.compile_loss(module.step_loss, self.device, self.backend) if compile_step else None

        def step(batch):
            with autocast(self.device):
                if loss_fn is None:
                    loss = module.step_loss(
                        batch.get("inputs", batch["tokens"]), batch["tokens"], batch["mask"]
                    )
                else:
                    loss = loss_fn(*compiled.prepare(batch, self.device, n_ctx))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.spec.grad_clip)
            optimizer.step()
            optimizer.zero_grad()

        start = time.perf_counter()
        step(self.batches[0])
        sync(self.device)
        first = time.perf_counter() - start
        tokens = 0
        for i in range(self.total):
            if i == warmup:
                sync(self.device)
                start = time.perf_counter()
            step(self.batches[i % len(self.batches)])
            tokens += self.n_tokens[i % len(self.batches)] if i >= warmup else 0
        sync(self.device)
        return {"first_step_s": first, "tokens_per_s": tokens / (time.perf_counter() - start)}


def through_lightning(args, device: torch.device) -> dict:
    """`train_one` with ``compile: on`` and ``off`` (Lightning's loop, bf16-mixed, CUDA graphs inside
    `training_step`): that the compiled run trains, its mode, and how far its curve is from eager."""
    if device.type != "cuda":  # CPU: tests/unit/training/test_compiled_step.py covers it
        return {"skipped": "a GPU check (CPU: tests/unit/training/test_compiled_step.py)"}
    from search_scaling.training import train_one

    spec = RunSpec(task="maze", size=args.size, model=args.compiled_models[0], steps=60, eval_points=3,
                   eval_examples=64, progress="off")  # fmt: skip
    out, root = {}, Path(tempfile.mkdtemp(prefix="gpu-check-runs-"))
    for mode in ("on", "off"):
        start = time.perf_counter()
        result = train_one(spec.with_(compile=mode), root / mode)
        out[mode] = {"seconds": time.perf_counter() - start, "training_mode": result.training_mode,
                     "final_loss": result.final.get("loss")}  # fmt: skip
    out["loss_difference"] = abs(out["on"]["final_loss"] - out["off"]["final_loss"])
    return out


def sharing(args, device: torch.device, limit: HardLimit) -> dict:
    """``SHARED`` one-run processes at once vs one process with a pack of ``SHARED``: aggregate
    tokens/s over the window from the first start to the last end (processes start together)."""
    model = args.models[0]
    try:
        alone = _processes([1] * args.shared, model, args, device, limit)
        packed = _processes([args.shared], model, args, device, limit)
    except Exception as err:  # noqa: BLE001 -- recorded (a worker that failed or ran out of time)
        return {"model": model, "error": f"{type(err).__name__}: {str(err)[:300]}"}
    return {"model": model, "processes": args.shared, "separate_tokens_per_s": alone,
            "pack_tokens_per_s": packed, "pack_over_separate": packed / alone}  # fmt: skip


def _processes(members: list[int], model: str, args, device: torch.device, limit: HardLimit) -> float:
    cmd = [sys.executable, __file__, "--worker", model, "--device", str(device), "--steps", str(args.steps),
           "--size", str(args.size)]  # fmt: skip
    procs = [subprocess.Popen([*cmd, "--members", str(k)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for k in members]  # fmt: skip
    limit.procs += procs  # killed by the hard limit, wherever this is blocked
    try:
        for proc in procs:  # each has built its model and batches
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a worker failed to start")
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outs = [proc.communicate(timeout=max(1.0, limit.left() - 15))[0] for proc in procs]  # 15 s to write
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    window = max(r["end"] for r in results) - min(r["start"] for r in results)
    return sum(r["tokens"] for r in results) / window


def worker(args) -> None:
    device = torch.device(args.device)
    bench = Bench(args.worker, args.members, device, args.size, args.steps)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    got = bench.run(graphed=False)
    print(json.dumps({"tokens": got["tokens"], "start": start, "end": time.time()}), flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_check.json"))
    p.add_argument("--device", default="cuda")
    p.add_argument("--dry-run", action="store_true", help="tiny sizes, to exercise the code (no figures)")
    p.add_argument("--budget-s", type=float, default=360.0, help="stop starting measurements after this")
    p.add_argument("--hard-limit-s", type=float, default=450.0,
                   help="write what was measured and exit 3 after this, whatever is running")  # fmt: skip
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--size", type=int, default=5, help="maze size (sets the context length)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--members", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return 0
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: CUDA is not available on this machine; nothing measured. Run it on a GPU "
              "(or --device cpu --dry-run to exercise the code).", file=sys.stderr)  # fmt: skip
        return 2
    args.models, args.packs, args.shared = list(MODELS), list(PACKS), SHARED
    args.compiled_models, args.backend = list(COMPILED_MODELS), "inductor"
    if args.dry_run:
        args.models, args.packs, args.shared, args.steps, args.size = ["L1-D8"], [1, 2], 2, 5, 3
        args.compiled_models, args.backend = ["L1-D8"], "eager"  # traced, no kernels generated
    # a cold compile, as a sweep's first cell of a shape pays it (unless the user named a cache)
    os.environ.setdefault(compiled.INDUCTOR_CACHE_ENV, tempfile.mkdtemp(prefix="gpu-check-inductor-"))
    report = {"dry_run": args.dry_run, "steps": args.steps, "maze_size": args.size}
    with HardLimit(args.hard_limit_s, report, args.out) as limit:
        measure(args, device, report, time.perf_counter() + min(args.budget_s, args.hard_limit_s), limit)
        write(report, args.out)
    print("\n".join(lines(json.loads(args.out.read_text())["suggested"])))
    print(f"wrote {args.out}")
    return 0


def measure(args, device: torch.device, report: dict, deadline: float, limit: HardLimit) -> None:
    """Every section, in order, into ``report`` (each kept as soon as it is measured: the hard limit
    writes what is there)."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peaks = {"table": peak_from_table(name), "measured": measured_peak(device, 256 if args.dry_run else 8192)}
    report |= {"device": name, "torch": torch.__version__, "peak_bf16_flops": peaks}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report["training"] = []
        training(args, device, peaks, deadline, report["training"])
    report["vmap_fallbacks"] = sum("batching rule" in str(w.message) for w in caught)
    report["compiled"] = []
    compiled_steps(args, device, peaks, deadline, report["compiled"])
    try:
        in_time = time.perf_counter() < deadline
        report["lightning"] = through_lightning(args, device) if in_time else {"skipped": "budget"}
    except Exception as err:  # noqa: BLE001 -- recorded, the check goes on
        report["lightning"] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    print(json.dumps({"lightning": report["lightning"]}), flush=True)
    in_time = time.perf_counter() < deadline
    report["sharing"] = sharing(args, device, limit) if in_time else {"skipped": "budget"}


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
