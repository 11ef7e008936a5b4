"""Generation throughput of graph_search and path_star: the vectorised generators (`Task.generate`)
against plain Python generators of the same distributions (`search_scaling.tasks.graphs.reference`,
one example at a time, then `encode_example` and padding into the same id array), in one run.

    .venv/bin/python benchmarks/search_tasks_generation.py [--n 20000] [--budget 3]

Both sides produce the full training input: the shuffled edge list with random ids, the query and
the path (graph search: after the rejections, so a balanced example has its requested lookahead).
Vectorised: the median of 3 runs of n = 10,000 in batches of 4,096. Plain: as many examples as
fit in ``--budget`` (2) seconds. Writes ``benchmarks/results/search_tasks_generation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

import numpy as np

from search_scaling.tasks import get_task
from search_scaling.tasks.graphs import reference

OUT = Path(__file__).parent / "results" / "search_tasks_generation.json"
# (task, options, size): path-star G(d, 5); graph search at N = 16 (lookahead up to 7) and N = 31
# (the paper's input size 98 = 3 * 31 + 5).
ROWS = [
    ("path_star", {"degree": 2}, 5),
    ("path_star", {"degree": 5}, 5),
    ("graph_search", {"distribution": "naive"}, 16),
    ("graph_search", {"distribution": "star"}, 16),
    ("graph_search", {"distribution": "balanced"}, 16),
    ("graph_search", {"distribution": "balanced"}, 31),
]


def vectorised_rate(task, size: int, n: int) -> float:
    times = []
    for rep in range(3):
        rng = np.random.default_rng(rep)
        start = time.perf_counter()
        for lo in range(0, n, 4096):
            task.generate(min(4096, n - lo), size, rng)
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def plain_rate(task, options: dict, size: int, budget: float) -> float:
    rnd, rows, start = random.Random(0), [], time.perf_counter()
    while time.perf_counter() - start < budget:
        rows.append(plain_example(task, options, size, rnd))
    out = np.full((len(rows), task.max_len(size)), task.pad_id, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return len(rows) / (time.perf_counter() - start)


def plain_example(task, options: dict, size: int, rnd: random.Random) -> list[int]:
    if task.name == "path_star":
        edges, source, goal, _ = reference.path_star_example(task.degree, size, task.n_nodes, rnd)
        return task.encode_example(edges, source, goal)
    cap = task.lookahead_cap(size)
    edges, start, goal, _, _ = reference.graph_search_example(options["distribution"], size, cap, rnd)
    return task.encode_example(edges, start, goal)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="examples per vectorised call")
    p.add_argument("--budget", type=float, default=2.0, help="seconds of plain Python per row")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"numpy {np.__version__}")  # fmt: skip
    print(f"machine: {machine}\n")
    print(f"{'task':13s} {'options':28s} {'size':>4s} {'vectorised/s':>13s} {'plain/s':>9s} {'ratio':>6s}")
    rows = []
    for name, options, size in ROWS:
        task = get_task(name, **options)
        fast = vectorised_rate(task, size, args.n)
        slow = plain_rate(task, options, size, args.budget)
        rows.append({"task": name, "options": options, "size": size, "vectorised_per_s": fast,
                     "plain_per_s": slow, "ratio": fast / slow})  # fmt: skip
        shown = json.dumps(options)
        print(f"{name:13s} {shown:28s} {size:4d} {fast:13,.0f} {slow:9,.0f} {fast / slow:5.0f}x", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"machine": machine, "n": args.n, "budget_s": args.budget, "rows": rows}
    args.out.write_text(json.dumps(summary, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
