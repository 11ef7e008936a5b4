"""Trained models for analysis: `load_run` (notebooks) and `inspect_example` (`search-scaling inspect`).

    model, spec, task = search_scaling.load_run("runs", "0e8c47e71733f4a7")          # final weights
    loaded = search_scaling.load_run("runs", "0e8c47e71733f4a7", step=120)
    logits, cache = loaded.model.run_with_cache(tokens, {"blocks.0.attn.hook_pattern"})

Weights come from the run's kept checkpoints (``keep_checkpoints: final | log``), or, for a
finished run on a local store that kept none, from its resume checkpoint (final step only). A run
trained with interventions comes back with those active at the loaded step (as its curves scored
it); ``model.reset_hooks(including_permanent=True)`` removes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch

from search_scaling.models import Transformer
from search_scaling.tasks import Task, TaskBatch


@dataclass
class LoadedRun:
    """A trained model (eval mode), its RunSpec, its task and the step of its weights; unpacks as
    ``model, spec, task``."""

    model: Transformer
    spec: object  # RunSpec
    task: Task
    step: int

    def __iter__(self):
        return iter((self.model, self.spec, self.task))


def load_run(store, run_hash: str, step: int | None = None, device: str | torch.device = "cpu") -> LoadedRun:
    """The model of run ``run_hash`` at ``step`` (None: its last kept step) from ``store`` (a root
    path or URI, or `Stores`), in eval mode on ``device``."""
    from search_scaling.store import Stores
    from search_scaling.store.weights import find_run, read_weights
    from search_scaling.training import RunSpec, interventions

    stores = store if isinstance(store, Stores) else Stores.resolve(str(store), mlflow=False, create=False)
    row = find_run(stores, run_hash)
    spec = RunSpec.from_dict(json.loads(row["spec_json"]))
    step, state = read_weights(stores, row, step)
    model = Transformer(spec.model_config)
    model.load_state_dict(state)
    interventions.activate(model, spec.interventions, step)  # the model its curves scored at `step`
    return LoadedRun(model.to(device).eval(), spec, spec.task_obj, step)


def held_out(spec, eval_set: str | None = None) -> tuple[Task, TaskBatch]:
    """The run's held-out set (or its named set ``eval_set``): the examples its curves score."""
    from search_scaling.training.data import eval_batch
    from search_scaling.training.run import named_eval_batches

    if eval_set is None:
        return spec.task_obj, eval_batch(spec.task_obj, spec.size, spec.eval_examples, spec.eval_seed)
    for split, task, batch in named_eval_batches(spec):
        if split == f"eval:{eval_set}":
            return task, batch
    names = [e["name"] for e in spec.evals]
    raise ValueError(f"run {spec.run_hash} has no eval set {eval_set!r}; its named sets: {names}")


@torch.no_grad()
def answer(model: Transformer, batch: TaskBatch, i: int) -> np.ndarray:
    """The model's greedy answer to example ``i``: the tokens it writes from its prompt on."""
    from search_scaling.training.evaluate import decode

    device = next(model.parameters()).device
    width = int(batch.length[i] - batch.prompt_len[i])
    return decode(model, batch.subset(np.array([i])), width, device)


def inspect_example(loaded: LoadedRun, i: int = 0, eval_set: str | None = None, ablate=()) -> str:
    """One held-out example as text: the prompt, the true answer, the model's greedy answer, whether
    it is right, and for mazes the maze drawn with the true and the predicted path. The answer is
    the model's under ``ablate`` (`interventions` entries) and the named set's own ablations."""
    from search_scaling.training import interventions
    from search_scaling.training.evaluate import _subset

    ablate = interventions.check(interventions.canonical(list(ablate), "--ablate", windows=False),
                                 loaded.spec.model_config, "--ablate")  # fmt: skip
    task, batch = held_out(loaded.spec, eval_set)
    ablate += interventions.for_split(loaded.spec, f"eval:{eval_set}") if eval_set else []
    if not 0 <= i < len(batch):
        raise ValueError(f"--example must be in [0, {len(batch) - 1}] (the set has {len(batch)} examples)")
    vocab = task.vocabulary(int(batch.size.max()))
    start, end = int(batch.prompt_len[i]), int(batch.length[i])
    with interventions.ablating(loaded.model, ablate):
        got = answer(loaded.model, batch, i)
    scores = task.score(_subset(batch, np.array([i])), got)
    words = lambda ids: " ".join(vocab[t] if 0 <= t < len(vocab) else f"<{t}>" for t in ids)  # noqa: E731
    shown = ", ".join(f"{k}={float(v[0]):.3g}" for k, v in scores.items() if not np.isnan(v[0]))
    lines = [f"run {loaded.spec.run_hash} at step {loaded.step}: {loaded.spec.task} "
             f"{task.size_name}={int(batch.size[i])}, model {loaded.spec.model}; "
             f"{eval_set or 'held-out'} example {i}{_ablated(ablate)}",
             f"prompt:  {words(batch.tokens[i, :start])}", f"true:    {words(batch.tokens[i, start:end])}",
             f"model:   {words(got[0])}",
             f"right:   {'yes' if scores['exact'][0] == 1 else 'no'}  ({shown})"]  # fmt: skip
    if "moves" in batch.extras:
        lines += ["", draw_paths(batch, i, got[0], getattr(task, "tokenization", "aotp"))]
    return "\n".join(lines)


def _ablated(ablate: list[dict]) -> str:
    """``; ablated: zero blocks.1.hook_attn_out (heads [0])`` for the header line."""
    said = [e["op"] + " " + e["hook"] + (f" (heads {e['heads']})" if e["heads"] else "") for e in ablate]
    return f"; ablated: {', '.join(said)}" if said else ""


def draw_paths(batch: TaskBatch, i: int, completion: np.ndarray, tokenization: str = "aotp") -> str:
    """The maze of example ``i`` twice, side by side: the true path (``X``) and the predicted one
    (``o``; a cell off the grid or a jump through a wall leaves a gap). ``S`` origin, ``E`` target.
    ``tokenization``: how the answer writes its cells (`tasks.maze.formats`)."""
    from search_scaling.tasks.base import answer_span
    from search_scaling.tasks.maze.task import decode_cells

    size = batch.extras["moves"].shape[1]
    width = len(completion)
    true_rc, true_n = decode_cells(answer_span(_one(batch, i), width)[0], size, tokenization)[:2]
    pred_rc, pred_n = decode_cells(completion[None, :], size, tokenization)[:2]
    k = int(batch.size[i])
    left = _draw(batch.extras["moves"][i], k, true_rc[0, : true_n[0]], "X", batch, i)
    right = _draw(batch.extras["moves"][i], k, pred_rc[0, : pred_n[0]], "o", batch, i)
    header = f"{'true path':<{2 * k + 4}}predicted path"
    return "\n".join([header] + [f"{a}   {b}" for a, b in zip(left.splitlines(), right.splitlines())])


def _one(batch: TaskBatch, i: int) -> TaskBatch:
    from search_scaling.training.evaluate import _subset

    return _subset(batch, np.array([i]))


def _draw(moves: np.ndarray, k: int, path: np.ndarray, mark: str, batch: TaskBatch, i: int) -> str:
    """``#`` walls, open passages blank (the layout of `render_ascii`), the path's cells and the
    passages between consecutive adjacent cells marked."""
    from search_scaling.tasks.maze.lattice import DC, DR

    grid = [["#"] * (2 * k + 1) for _ in range(2 * k + 1)]
    for r in range(k):
        for c in range(k):
            grid[2 * r + 1][2 * c + 1] = " "
            for d in np.nonzero(moves[r, c])[0]:
                grid[2 * r + 1 + DR[d]][2 * c + 1 + DC[d]] = " "
    cells = [tuple(int(v) for v in rc) for rc in path if 0 <= rc[0] < k and 0 <= rc[1] < k]
    for a, b in zip(cells, cells[1:]):
        step = (b[0] - a[0], b[1] - a[1])
        if abs(step[0]) + abs(step[1]) == 1 and grid[a[0] + b[0] + 1][a[1] + b[1] + 1] == " ":
            grid[a[0] + b[0] + 1][a[1] + b[1] + 1] = mark
    for r, c in cells:
        grid[2 * r + 1][2 * c + 1] = mark
    for key, label in (("origin_rc", "S"), ("target_rc", "E")):
        r, c = batch.extras[key][i]
        grid[2 * r + 1][2 * c + 1] = label
    return "\n".join("".join(row) for row in grid)
