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
from search_scaling.tasks.maze.formats import decode_cells
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


def toward_target(path: list, truth: list) -> bool:
    """Whether the first wrong cell of ``path`` is closer (Manhattan) to the target than the cell
    before it: a model that walks toward the target without reading walls fails this way."""
    j = next(j for j in range(min(len(path), len(truth))) if path[j] != truth[j])
    (r0, c0), (r1, c1), (rt, ct) = path[j - 1], path[j], truth[-1]
    return abs(r1 - rt) + abs(c1 - ct) < abs(r0 - rt) + abs(c0 - ct)


def anatomy(spec: RunSpec, checkpoint, n: int = 1000) -> dict:
    """Greedy-decode ``n`` held-out mazes with the weights at ``checkpoint`` and sort each failure by
    its first wrong cell (`first_error`) and by whether that cell was a step toward the target."""
    state = torch.load(checkpoint, weights_only=True)["state_dict"]
    model = Transformer(spec.model_config)
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    model.eval()
    batch = eval_batch(spec.task_obj, spec.size, n, spec.eval_seed)
    width = int((batch.length - batch.prompt_len).max())
    with torch.no_grad():
        out = greedy_decode(model, torch.from_numpy(batch.tokens), torch.from_numpy(batch.prompt_len), width)
    completions = out.numpy()
    exact = spec.task_obj.score(batch, completions)["exact"]
    form = spec.task_obj.tokenization
    cells, n_cells = decode_cells(completions, spec.size, form)[:2]
    true_cells, true_len = decode_cells(answer_span(batch, width)[0], spec.size, form)[:2]

    def cells_of(table, counts, i):
        return [tuple(c) for c in table[i, : counts[i]]]

    kinds, toward = Counter(), Counter()
    for i in np.nonzero(exact < 1)[0]:
        path, truth = cells_of(cells, n_cells, i), cells_of(true_cells, true_len, i)
        kind = first_error(path, truth, batch.extras["moves"][i])
        kinds[kind] += 1
        if kind in ("through a wall", "wrong open branch"):
            toward[f"{kind}, toward the target" if toward_target(path, truth) else f"{kind}, away"] += 1
    return {"exact": float(exact.mean()), "examples": n, "failures": int((exact < 1).sum()),
            "first_error": dict(kinds.most_common()), "direction": dict(toward.most_common())}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, default=3)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--model", default="L2-D32")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--tokenization", default="aotp")
    args = p.parse_args()
    torch.set_num_threads(1)
    options = {"tokenization": args.tokenization}
    spec = RunSpec(task="maze", size=args.size, model=args.model, lr=args.lr, steps=args.steps,
                   eval_points=3, eval_examples=256, task_options=options)  # fmt: skip
    result = train_one(spec, tempfile.mkdtemp())
    found = anatomy(spec, result.checkpoint)
    print(
        f"exact {found['exact']:.3f}; {found['failures']} failures of 1000: {found['first_error']}; "
        f"{found['direction']}"
    )


if __name__ == "__main__":
    main()
