"""Failure anatomy of a maze model: where greedy paths first leave the true path, and how.

    python benchmarks/maze_failures.py --size 3 --steps 1200 [--model L2-D32 --lr 3e-3]

Trains one run (one torch thread), decodes 1,000 held-out mazes and sorts each failure by its first
wrong cell: a jump to a non-adjacent cell, a step through a wall (to a grid neighbour that is not
connected), a backtrack, an open but wrong branch (only possible at a decision), ending early, or
running past the target.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter

import numpy as np
import torch

from search_scaling.models import Transformer
from search_scaling.models.decode import greedy_decode
from search_scaling.tasks.base import answer_span
from search_scaling.tasks.maze.task import decode_cells
from search_scaling.training import RunSpec, train_one
from search_scaling.training.data import eval_batch

DIRECTION = {(-1, 0): 0, (0, -1): 1, (0, 1): 2, (1, 0): 3}  # the lattice's move order


def first_error(path: list, truth: list, moves: np.ndarray) -> str:
    """The kind of the first cell where ``path`` leaves ``truth`` (lists of (row, col))."""
    j = next(
        (j for j in range(min(len(path), len(truth))) if path[j] != truth[j]), min(len(path), len(truth))
    )
    if j >= len(path):
        return "ends early"
    if j >= len(truth):
        return "runs past the target"
    (r0, c0), (r1, c1) = path[j - 1], path[j]
    step = (r1 - r0, c1 - c0)
    if step not in DIRECTION:
        return "non-adjacent jump"
    if not moves[r0, c0, DIRECTION[step]]:
        return "through a wall"
    return "backtrack" if j >= 2 and path[j] == path[j - 2] else "wrong open branch"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, default=3)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--model", default="L2-D32")
    p.add_argument("--lr", type=float, default=3e-3)
    args = p.parse_args()
    torch.set_num_threads(1)
    spec = RunSpec(task="maze", size=args.size, model=args.model, lr=args.lr, steps=args.steps,
                   eval_points=3, eval_examples=256)  # fmt: skip
    result = train_one(spec, tempfile.mkdtemp())
    state = torch.load(result.checkpoint, weights_only=True)["state_dict"]
    model = Transformer(spec.model_config)
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    model.eval()
    batch = eval_batch(spec.task_obj, args.size, 1000, spec.eval_seed)
    width = int((batch.length - batch.prompt_len).max())
    with torch.no_grad():
        out = greedy_decode(model, torch.from_numpy(batch.tokens), torch.from_numpy(batch.prompt_len), width)
    completions = out.numpy()
    exact = spec.task_obj.score(batch, completions)["exact"]
    cells, n_cells = decode_cells(completions, args.size)[:2]
    true_cells, true_len = decode_cells(answer_span(batch, width)[0], args.size)[:2]

    def cells_of(table, counts, i):
        return [tuple(c) for c in table[i, : counts[i]]]

    failures = np.nonzero(exact < 1)[0]
    moves = batch.extras["moves"]
    kinds = Counter(first_error(cells_of(cells, n_cells, i), cells_of(true_cells, true_len, i), moves[i])
                    for i in failures)  # fmt: skip
    print(f"exact {exact.mean():.3f}; {int((exact < 1).sum())} failures of 1000: {dict(kinds.most_common())}")


if __name__ == "__main__":
    main()
