"""Packed training on CPU: a pack of K runs against the same K runs one after another (issue 18).

    python benchmarks/pack_throughput.py [--models L1-D8,L2-D16,L2-D32,L3-D64] [--packs 1,4,16,64]
        [--steps 30] [--reps 2] [--threads 2] [--size 5] [--eval-examples 64] [--out results/pack.json]

For each model and K: K runs (seeds 0..K-1, their own data streams), their batches generated
before the clock starts. Timed in one process, interleaved (pack, sequential, pack, ...) so that
machine noise hits both: ``steps`` training steps of
  - the pack: `PackModule` forward, summed loss, backward, per-member clipping, `PackedAdamW`;
  - sequential: each of the K solo models in turn: forward, backward, `clip_grad_norm_`, AdamW,
    LambdaLR (the step `train_one` takes, without Lightning: Lightning's per-step cost, measured in
    issue 4, is paid once per pack but K times sequentially, so this understates the pack's gain).
Then evaluation: one `evaluate_pack` against K `evaluate` calls on the held-out set (greedy
decoding with the KV cache in both). Reported: real (non-padding) tokens per second, the ratio
sequential/pack time, and effective MFU = model FLOPs per token x tokens/s over this machine's
measured fp32 matmul peak.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import lightning as L
import torch
from training_overhead import matmul_peak  # this folder (scripts run from it): one peak measurement

from search_scaling.models import Transformer
from search_scaling.training import RunSpec
from search_scaling.training.data import train_batch
from search_scaling.training.evaluate import evaluate
from search_scaling.training.module import SequenceModel, masked_loss
from search_scaling.training.pack import PackBatches, PackModule
from search_scaling.training.pack_eval import evaluate_pack
from search_scaling.training.run import plan_run

WARMUP = 3


def members(specs: list[RunSpec]) -> list[Transformer]:
    out = []
    for spec in specs:
        L.seed_everything(spec.derived_seed("init") % 2**32, verbose=False)
        out.append(Transformer(spec.model_config))
    return out


class Pack:
    def __init__(self, specs: list[RunSpec], total: int):
        self.module = PackModule(specs, total, members(specs))
        self.optimizer = self.module.configure_optimizers()
        data = PackBatches(specs, total, self.module.active)
        self.batches = [data.batch(s) for s in range(total)]
        self.tokens = sum(int(b["n_tokens"].sum()) for b in self.batches[WARMUP:])

    def seconds(self) -> float:
        for step, batch in enumerate(self.batches):
            if step == WARMUP:
                start = time.perf_counter()
            loss = self.module.training_step(batch, step)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.module.configure_gradient_clipping(self.optimizer)
            self.optimizer.step()
            float(loss.detach())
        return time.perf_counter() - start


class Sequential:
    def __init__(self, specs: list[RunSpec], total: int):
        self.runs = []
        for spec, model in zip(specs, members(specs)):
            module = SequenceModel(spec, total)
            module.model = model
            opt = module.configure_optimizers()
            seed = spec.derived_seed("data", data_only=True)
            batches = []
            for step in range(total):
                b = train_batch(spec.train_task, spec.size, seed, step, spec.batch_size)
                mask = b.loss_mask(spec.loss_mask, step / total, spec.mask_switch)
                batches.append((torch.from_numpy(b.tokens), torch.from_numpy(mask)))
            self.runs.append((spec, model, opt["optimizer"], opt["lr_scheduler"]["scheduler"], batches))

    def seconds(self) -> float:
        total = 0.0
        for spec, model, optimizer, schedule, batches in self.runs:
            for step, (tokens, mask) in enumerate(batches):
                if step == WARMUP:
                    start = time.perf_counter()
                loss = masked_loss(model(tokens[:, :-1]), tokens, mask)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
                optimizer.step()
                schedule.step()
                float(loss.detach())
            total += time.perf_counter() - start
        return total


def eval_seconds(pack: Pack, seq: Sequential, spec: RunSpec, held_out) -> tuple[float, float]:
    start = time.perf_counter()
    evaluate_pack(pack.module.packed, spec.task_obj, held_out)
    packed = time.perf_counter() - start
    start = time.perf_counter()
    for _, model, *_ in seq.runs:
        evaluate(model, spec.task_obj, held_out)
    return packed, time.perf_counter() - start


def measure(model: str, k: int, args, peak: float) -> dict:
    specs = [RunSpec(task="maze", size=args.size, model=model, seed=s, steps=args.steps,
                     eval_examples=args.eval_examples) for s in range(k)]  # fmt: skip
    held_out, total, scale = plan_run(specs[0])
    pack, seq = Pack(specs, total), Sequential(specs, total)
    timed = {"pack": [], "sequential": []}
    for _ in range(args.reps):
        timed["pack"].append(pack.seconds())
        timed["sequential"].append(seq.seconds())
    t_pack, t_seq = statistics.median(timed["pack"]), statistics.median(timed["sequential"])
    e_pack, e_seq = eval_seconds(pack, seq, specs[0], held_out)
    tps_pack, tps_seq = pack.tokens / t_pack, pack.tokens / t_seq
    flops = scale["flops_per_token"]
    return {"model": model, "K": k, "params_nonembed": scale["params_nonembed"], "steps": args.steps - WARMUP,
            "tokens_per_s_pack": tps_pack, "tokens_per_s_sequential": tps_seq, "train_ratio": t_seq / t_pack,
            "mfu_pack": tps_pack * flops / peak, "mfu_sequential": tps_seq * flops / peak,
            "eval_s_pack": e_pack, "eval_s_sequential": e_seq, "eval_ratio": e_seq / e_pack}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="L1-D8,L2-D16,L2-D32,L3-D64")
    p.add_argument("--packs", default="1,4,16,64")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, default=5)
    p.add_argument("--eval-examples", type=int, default=64)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    if args.steps <= WARMUP:
        p.error(f"--steps must exceed the {WARMUP} warm-up steps")
    torch.set_num_threads(args.threads)
    peak = matmul_peak()
    print(f"{args.threads} threads, fp32 matmul peak {peak / 1e9:.1f} GFLOP/s, maze {args.size}x{args.size}")
    print(
        "| model | K | tokens/s pack | tokens/s sequential | train ratio | MFU pack | MFU seq | eval ratio |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for model in args.models.split(","):
        for k in (int(x) for x in args.packs.split(",")):
            r = measure(model, k, args, peak)
            rows.append(r)
            mfu = f"{100 * r['mfu_pack']:.1f}% | {100 * r['mfu_sequential']:.1f}%"
            print(f"| {model} | {k} | {r['tokens_per_s_pack']:,.0f} | {r['tokens_per_s_sequential']:,.0f} | "
                  f"{r['train_ratio']:.2f}x | {mfu} | {r['eval_ratio']:.2f}x |", flush=True)  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"threads": args.threads, "peak_flops": peak, "size": args.size, "steps": args.steps}
        args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
