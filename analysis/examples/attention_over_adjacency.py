"""Minimal example: where does a trained maze model look when it takes its first step?

Loads a finished maze run (by default the largest finished model of the demo sweep, ``make demo``),
feeds it one held-out maze, captures every layer's attention pattern through the model's hook
points (``blocks.<i>.attn.hook_pattern``), and plots the attention of the first path token (the
origin, from which the model predicts the first move) over the adjacency list. Edges that touch the
origin are highlighted: a model that has learned to search reads the origin's edges there
(Ivanitskiy et al. 2023 find such "adjacency heads"). It also prints, per head, the attention mass
on those edges against their share of the adjacency list (what uniform attention would give).

    .venv/bin/python analysis/examples/attention_over_adjacency.py --store runs [--run HASH] [--example 0]

Unlike the `analysis` package (tables in, no torch), an example opens trained models, so it uses
`search_scaling` and torch. `tests/unit/training/test_experiments.py` executes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def pick_run(store: str, sweep: str) -> str:
    """The largest finished maze model of ``sweep`` (ties: the largest grid, then seed 0)."""
    from search_scaling.store import Stores

    runs = Stores.resolve(store, mlflow=False, create=False).parquet.runs(sweep=sweep, task="maze")
    runs = runs[runs["status"] == "done"]
    if runs.empty:
        raise SystemExit(
            f"no finished maze run of sweep {sweep!r} in {store}: run `make demo`, or pass --run"
        )
    best = runs.sort_values(["params_nonembed", "task_size", "seed"], ascending=[False, False, True])
    return best["run_hash"].iloc[0]


def first_step_attention(model, batch, i: int) -> tuple[np.ndarray, int, int]:
    """Attention of the first path token over positions 0..prompt: float[layer, head, key], the
    first path token's position and the <ADJLIST_END> position."""
    import torch

    from search_scaling.tasks.maze.tokens import ADJ_END

    query = int(batch.prompt_len[i])  # the first path token (the origin); it predicts the first move
    tokens = torch.from_numpy(batch.tokens[i : i + 1, : query + 1])
    names = {f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)}
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names)
    patterns = [
        cache[f"blocks.{layer}.attn.hook_pattern"][0, :, query].numpy() for layer in range(model.cfg.n_layers)
    ]
    return np.stack(patterns), query, int(np.argmax(batch.tokens[i] == ADJ_END))


def origin_edges(batch, i: int, adj_end: int) -> np.ndarray:
    """bool[adj_end]: adjacency-list positions belonging to an edge that touches the origin."""
    from search_scaling.tasks.maze.tokens import coord_id

    r, c = batch.extras["origin_rc"][i]
    origin = coord_id(r, c)
    marks = np.zeros(adj_end, dtype=bool)
    for start in range(1, adj_end, 4):  # each edge: (a) <--> (b) ;
        a, b = batch.tokens[i, start], batch.tokens[i, start + 2]
        if origin in (a, b):
            marks[start : start + 4] = True
    return marks


def plot(att: np.ndarray, labels: list[str], marks: np.ndarray, title: str, out: Path) -> Path:
    """One panel per (layer, head): a bar per adjacency-list token, origin edges in orange."""
    rows = [(layer, head) for layer in range(att.shape[0]) for head in range(att.shape[1])]
    fig, axes = plt.subplots(
        len(rows), 1, figsize=(max(8, 0.28 * len(labels)), 2.2 * len(rows)), squeeze=False
    )
    colours = np.where(marks, "tab:orange", "tab:blue")
    for ax, (layer, head) in zip(axes[:, 0], rows):
        ax.bar(np.arange(len(labels)), att[layer, head, 1 : len(labels) + 1], color=colours)
        ax.set_ylabel(f"L{layer} H{head}", fontsize=10)
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_xticks(np.arange(len(labels)), labels if ax is axes[-1, 0] else [], rotation=90, fontsize=8)
    axes[0, 0].set_title(f"{title}\norange: tokens of the edges that touch the origin", fontsize=11)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> Path:
    from search_scaling import load_run
    from search_scaling.loader import held_out

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="runs")
    parser.add_argument("--run", help="run hash (default: the largest finished maze model of --sweep)")
    parser.add_argument("--sweep", default="smoke")
    parser.add_argument("--step", type=int, help="a kept step (default: the last one)")
    parser.add_argument("--example", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("reports/examples/attention_over_adjacency.png"))
    args = parser.parse_args(argv)
    loaded = load_run(args.store, args.run or pick_run(args.store, args.sweep), args.step)
    task, batch = held_out(loaded.spec)
    att, query, adj_end = first_step_attention(loaded.model, batch, args.example)
    vocab = task.vocabulary(loaded.spec.size)
    labels = [vocab[t] for t in batch.tokens[args.example, 1:adj_end]]
    marks = origin_edges(batch, args.example, adj_end)[1:]
    share = marks.mean()
    for layer, head in np.ndindex(att.shape[:2]):
        adj = att[layer, head, 1:adj_end]
        print(f"layer {layer} head {head}: {adj.sum():.2f} of its attention on the adjacency list, "
              f"{adj[marks].sum() / max(adj.sum(), 1e-9):.2f} of that on the origin's edges "
              f"(uniform: {share:.2f})")  # fmt: skip
    spec = loaded.spec
    title = (f"run {spec.run_hash} ({spec.model}, grid {spec.size}, step {loaded.step}): attention of the "
             f"first path token, held-out maze {args.example}")  # fmt: skip
    out = plot(att, labels, marks, title, args.out)
    print(f"plot: {out}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
