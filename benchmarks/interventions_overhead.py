"""Training-step time with interventions off vs on (issue 31's goal: off costs nothing, on <= 10%).

One step = forward, masked-free next-token loss, backward, AdamW update, on random tokens. Variants:

- ``off``: no hook registered (the plain forward pass);
- ``baseline`` (with ``--baseline DIR``): the `Transformer` of another checkout (e.g. main before the
  hooks), the reference for "off costs nothing";
- ``zero_head``: a zero ablation of one head's ``hook_z`` (the fused attention kernel is kept);
- ``mean_mlp``: a mean ablation of layer 0's MLP output;
- ``clamp``: a previous-token clamp of layer 0's pattern (that layer's attention runs as explicit
  matmuls, as it must to replace the pattern).

Rounds interleave the variants so that drift on a shared machine hits them alike; the median
step time per variant is reported with its ratio to ``off``.

    python benchmarks/interventions_overhead.py --baseline /work/main --model L2-D32 --steps 20
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from search_scaling.models import Transformer, model_config
from search_scaling.training.interventions import activate, canonical

VARIANTS = {
    "off": [],
    "zero_head": [{"hook": "blocks.1.attn.hook_z", "op": "zero", "heads": [0]}],
    "mean_mlp": [{"hook": "blocks.0.hook_mlp_out", "op": "mean"}],
    "clamp": [{"hook": "blocks.0.attn.hook_pattern", "op": "clamp", "pattern": "previous_token"}],
}


def baseline_class(root: Path):
    """The `Transformer` class of the checkout at ``root`` (its models/transformer.py, loaded under
    another module name so that both versions live in one process)."""
    spec = importlib.util.spec_from_file_location(
        "baseline_transformer", root / "search_scaling/models/transformer.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_transformer"] = module
    spec.loader.exec_module(module)
    return module.Transformer


def make_step(model, tokens):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        logits = model(tokens[:, :-1])  # [batch, T-1, vocab]
        loss = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="L2-D32")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=96)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout whose Transformer is timed too")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    cfg = model_config(args.model, d_vocab=64, n_ctx=args.length)
    tokens = torch.randint(0, 64, (args.batch, args.length), device=args.device)
    steps = {}
    for name, entries in VARIANTS.items():
        torch.manual_seed(0)
        model = Transformer(cfg).to(args.device)
        activate(model, canonical(entries), step=0)
        steps[name] = make_step(model, tokens)
    if args.baseline is not None:
        torch.manual_seed(0)
        steps["baseline"] = make_step(baseline_class(args.baseline)(cfg).to(args.device), tokens)
    times = {name: [] for name in steps}
    for step in steps.values():  # warm-up
        for _ in range(3):
            step()
    for _ in range(args.rounds):
        for name, step in steps.items():
            for _ in range(args.steps):
                _sync(args.device)
                start = time.perf_counter()
                step()
                _sync(args.device)
                times[name].append(time.perf_counter() - start)
    off = statistics.median(times["off"])
    print(f"{args.model}, batch {args.batch} x {args.length} tokens, {args.device}, "
          f"{torch.get_num_threads()} thread(s), {args.rounds} x {args.steps} steps each")  # fmt: skip
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:10s} {median * 1e3:8.2f} ms/step  ({median / off:.3f} x off)")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
