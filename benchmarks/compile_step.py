"""Compiled vs eager training step on CPU (issue 33): step time, compile time, amortisation.

    python benchmarks/compile_step.py [--models L1-D8,L2-D16,L2-D32,L3-D64] [--sizes 3,5]
        [--threads 1,2] [--steps 40] [--reps 3] [--batch 64] [--out results/compile_step.json]

For each (threads, maze size, model), two fresh processes share one empty inductor cache folder:
  1. cold: compiles the training step (`training.compiled`: model forward + masked loss, fullgraph,
     length dynamic) with the cache empty; then times eager and compiled steps interleaved
     (eager, compiled, eager, ... ``reps`` times ``steps`` steps each) so that machine noise hits
     both: the ratio is measured in one run;
  2. warm: a second process compiles the same shape from the cache (what every later cell of a
     sweep pays).
A step is what `train_one` does per batch without Lightning: loss, backward, `clip_grad_norm_`,
AdamW (default implementation eager; ``foreach`` compiled, as a compiled run uses), LambdaLR.
Batches are generated before the clock starts. Reported per configuration: eager and compiled
seconds per step (median over reps), their ratio, cold and warm compile seconds, the break-even
steps (compile seconds / seconds saved per step), and MFU (model FLOPs x real tokens/s over the
measured fp32 matmul peak). The inputs of `compiled.decide` (``auto``) come from this table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARMUP = 3


def worker(model: str, size: int, threads: int, steps: int, reps: int, batch: int) -> dict:
    import lightning as L
    import torch
    from training_overhead import matmul_peak  # this folder (scripts run from it)

    from search_scaling.training import RunSpec, compiled
    from search_scaling.training.data import StepBatches
    from search_scaling.training.module import SequenceModel
    from search_scaling.training.run import plan_run

    torch.set_num_threads(threads)
    spec = RunSpec(
        task="maze", size=size, model=model, steps=WARMUP + steps, batch_size=batch, eval_examples=64
    )
    _, total, scale = plan_run(spec)
    data = list(StepBatches(spec.train_task, size, spec.derived_seed("data", data_only=True), batch,
                            total, spec.loss_mask, spec.mask_switch))  # fmt: skip
    tokens = sum(int(b["n_tokens"]) for b in data[WARMUP:])
    device, n_ctx = torch.device("cpu"), spec.model_config.n_ctx

    def trainer(compile_step: bool):
        L.seed_everything(0, verbose=False)
        module = SequenceModel(spec, total, compile_step)
        opt = module.configure_optimizers()
        optimizer, schedule = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
        loss_fn = compiled.compile_loss(module.step_loss, device) if compile_step else None

        def step(b):
            if loss_fn is None:
                loss = module.step_loss(b.get("inputs", b["tokens"]), b["tokens"], b["mask"])
            else:
                loss = loss_fn(*compiled.prepare(b, device, n_ctx))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), spec.grad_clip)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()

        return step

    eager, fast = trainer(False), trainer(True)
    start = time.perf_counter()
    fast(data[0])  # the compile
    compile_s = time.perf_counter() - start
    times = {"eager": [], "compiled": []}
    for _ in range(reps):
        for name, step in (("eager", eager), ("compiled", fast)):
            for b in data[:WARMUP]:
                step(b)
            start = time.perf_counter()
            for b in data[WARMUP:]:
                step(b)
            times[name].append((time.perf_counter() - start) / steps)
    eager_s, compiled_s = statistics.median(times["eager"]), statistics.median(times["compiled"])
    peak = matmul_peak()
    return {"model": model, "maze_size": size, "threads": threads, "batch_size": batch,
            "compile_s": compile_s, "eager_step_s": eager_s, "compiled_step_s": compiled_s,
            "speedup": eager_s / compiled_s,
            "mfu_eager": scale["flops_per_token"] * tokens / steps / eager_s / peak,
            "mfu_compiled": scale["flops_per_token"] * tokens / steps / compiled_s / peak,
            "tokens_per_step": tokens / steps, "peak_flops": peak}  # fmt: skip


def measure(model: str, size: int, threads: int, args) -> dict:
    """A cold then a warm process on one fresh cache folder."""
    cache = tempfile.mkdtemp(prefix="compile-step-")
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--worker", model, "--sizes", str(size), "--threads", str(threads),
           "--steps", str(args.steps), "--reps", str(args.reps), "--batch", str(args.batch)]  # fmt: skip
    runs = []
    for _ in ("cold", "warm"):
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    cold, warm = runs
    saved = cold["eager_step_s"] - cold["compiled_step_s"]
    return {**cold, "cold_compile_s": cold["compile_s"], "warm_compile_s": warm["compile_s"],
            "warm_speedup": warm["speedup"],
            "break_even_steps_cold": cold["compile_s"] / saved if saved > 0 else None,
            "break_even_steps_warm": warm["compile_s"] / saved if saved > 0 else None}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="L1-D8,L2-D16,L2-D32,L3-D64")
    p.add_argument("--sizes", default="3,5")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out", type=Path, default=Path("results/compile_step.json"))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        got = worker(args.worker, int(args.sizes), int(args.threads), args.steps, args.reps, args.batch)
        print(json.dumps(got), flush=True)
        return 0
    rows = []
    for threads in map(int, args.threads.split(",")):
        for size in map(int, args.sizes.split(",")):
            for model in args.models.split(","):
                rows.append(measure(model, size, threads, args))
                r = rows[-1]
                print(f"{model:8s} {size}x{size} {threads} thr: eager {r['eager_step_s'] * 1e3:7.1f} ms  "
                      f"compiled {r['compiled_step_s'] * 1e3:7.1f} ms  x{r['speedup']:.2f}  compile "
                      f"{r['cold_compile_s']:.0f} s cold / {r['warm_compile_s']:.0f} s warm  break-even "
                      f"{r['break_even_steps_cold'] or float('inf'):,.0f} / "
                      f"{r['break_even_steps_warm'] or float('inf'):,.0f} "
                      f"steps  MFU {r['mfu_eager']:.1%} -> {r['mfu_compiled']:.1%}", flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
