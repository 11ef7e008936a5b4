"""Greedy decoding on 10x10 mazes: KV cache vs recomputing the full prefix at every step.

    .venv/bin/python benchmarks/decode_kv_cache.py [--model L3-D64] [--n 64]

Same model (random weights: speed does not depend on what was learned), same prompts, same number
of new tokens; checks that both produce identical tokens and prints the speed-up.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from search_scaling.models import Transformer, model_config
from search_scaling.models.decode import greedy_decode
from search_scaling.tasks import get_task


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="L3-D64")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--grid", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    task = get_task("maze")
    batch = task.generate(args.n, args.grid, np.random.default_rng(0))
    max_new = int((batch.length - batch.prompt_len).max())
    n_ctx = int(batch.prompt_len.max()) + max_new
    model = Transformer(model_config(args.model, task.vocab_size(args.grid), n_ctx)).eval()
    tokens, prompt_len = torch.from_numpy(batch.tokens), torch.from_numpy(batch.prompt_len)
    timings, outputs = {}, {}
    for use_cache in (True, False):
        start = time.perf_counter()
        outputs[use_cache] = greedy_decode(model, tokens, prompt_len, max_new, use_cache=use_cache)
        timings[use_cache] = time.perf_counter() - start
    assert torch.equal(outputs[True], outputs[False]), "KV-cache decoding differs from full-prefix decoding"
    prompt = int(batch.prompt_len.max())
    print(f"{args.n} mazes {args.grid}x{args.grid}, model {args.model}, prompt <= {prompt} tokens,")
    print(f"{max_new} new tokens, torch threads {torch.get_num_threads()}")
    cached, full = timings[True], timings[False]
    print(f"KV cache {cached:.2f}s | full prefix {full:.2f}s | speed-up {full / cached:.1f}x")


if __name__ == "__main__":
    main()
