"""Lightning overhead and CPU utilisation of the training step.

    python benchmarks/training_overhead.py [--model L2-D32] [--size 5] [--steps 300] [--reps 3]

Times the same steps (same model, batches, optimizer, schedule, clipping) through `train_one`'s
Lightning loop and through a plain PyTorch loop, interleaved A/B so machine noise hits both, and
reports the ratio. The window excludes start-up: it opens after a warm-up of WARMUP steps and closes
at the last step, with evaluation reduced to the two ends. Utilisation: achieved training FLOP/s
(6 N tokens/s, and the model's own FLOPs/token with attention) over a measured dense fp32 matmul
peak of this machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import lightning as L
import torch

from search_scaling.models import Transformer
from search_scaling.training import RunSpec, train_one
from search_scaling.training.data import StepBatches
from search_scaling.training.module import SequenceModel, masked_loss
from search_scaling.training.run import plan_run

WARMUP = 20


class Window(L.Callback):
    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == WARMUP:
            self.start = time.perf_counter()
        if trainer.global_step == trainer.max_steps:
            self.seconds = time.perf_counter() - self.start


def lightning_seconds(spec: RunSpec) -> float:
    window = Window()
    with tempfile.TemporaryDirectory() as tmp:
        train_one(spec, tmp, callbacks=(window,), checkpoint_every_s=1e9)
    return window.seconds


def plain_seconds(spec: RunSpec) -> float:
    """The same computation without Lightning: the loop a careful researcher would write by hand."""
    _, total, _ = plan_run(spec)
    torch.manual_seed(spec.derived_seed("init") % 2**32)
    module = SequenceModel(spec, total)  # same parameter groups and schedule as the Lightning run
    opt = module.configure_optimizers()
    optimizer, schedule = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
    model: Transformer = module.model
    data = StepBatches(spec.train_task, spec.size, spec.derived_seed("data", data_only=True), spec.batch_size,
                       total, spec.loss_mask, spec.mask_switch)  # fmt: skip
    for step, batch in enumerate(data, start=1):
        if step == WARMUP + 1:
            start = time.perf_counter()
        tokens = batch["tokens"]
        loss = masked_loss(model(tokens[:, :-1]), tokens, batch["mask"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
        optimizer.step()
        schedule.step()
        float(loss.detach())  # the Lightning loop reads the loss every step too (divergence check)
    return time.perf_counter() - start


def matmul_peak(n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="L2-D32")
    p.add_argument("--size", type=int, default=5)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    spec = RunSpec(task="maze", size=args.size, model=args.model, steps=args.steps, eval_points=1,
                   eval_examples=8)  # fmt: skip
    timed = {"lightning": [], "plain": []}
    for _ in range(args.reps):
        timed["lightning"].append(lightning_seconds(spec))
        timed["plain"].append(plain_seconds(spec))
    light, plain = statistics.median(timed["lightning"]), statistics.median(timed["plain"])
    steps = args.steps - WARMUP
    held_out, _, scale = plan_run(spec)
    tokens_per_s = steps * spec.batch_size * float(held_out.length.mean()) / light
    peak = matmul_peak()
    params, n = scale["params_nonembed"], args.size
    print(
        f"model {args.model} ({params:,} non-embedding params), maze {n}x{n}, batch {spec.batch_size},"
        f" {steps} timed steps x {args.reps} reps, {torch.get_num_threads()} threads"
    )
    print(
        f"lightning {light:.2f}s  plain {plain:.2f}s  overhead {100 * (light / plain - 1):+.1f}%  "
        f"(all: {[round(t, 2) for t in timed['lightning']]} vs {[round(t, 2) for t in timed['plain']]})"
    )
    for label, flops in (("6N", 6 * scale["params_total"]), ("model FLOPs", scale["flops_per_token"])):
        achieved = tokens_per_s * flops
        print(f"{tokens_per_s:,.0f} tokens/s; {label}: {achieved / 1e9:.2f} GFLOP/s = "
              f"{100 * achieved / peak:.1f}% of the {peak / 1e9:.1f} GFLOP/s fp32 matmul peak")  # fmt: skip


if __name__ == "__main__":
    main()
