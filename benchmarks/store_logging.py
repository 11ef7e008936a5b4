"""Recording 10,000 curve points of one run: our store (Parquet part files + MLflow `log_batch`,
flushed as a run flushes at checkpoints) vs one `MlflowClient.log_metric` call per point.

    python benchmarks/store_logging.py [--points 10000] [--flushes 10]

Both write to fresh SQLite MLflow databases created before timing starts (as the sweep driver does).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from search_scaling.store import Mirror, ParquetStore
from search_scaling.store.mirror import default_tracking_uri


def curve_rows(points: int) -> list[dict]:
    metrics = (
        "loss",
        "exact",
        "token_acc",
        "valid",
        "reached",
        "first_step",
        "prefix_frac",
        "answer_logprob",
    )
    steps = points // len(metrics)
    return [
        {"step": s, "tokens": 1000 * s, "flops": 6e6 * s, "split": "eval", "metric": m, "value": 1 / (s + 1),
         "wall_time": 0.01 * s}
        for s in range(steps) for m in metrics
    ]  # fmt: skip


def ours(root: Path, rows: list[dict], flushes: int) -> float:
    store, mirror = ParquetStore(root), Mirror(default_tracking_uri(root), root / "mlartifacts")
    mirror.parent_run("bench")
    run = mirror.child_run("bench", "run0", "run0", {"a": 1}, {})
    per = -(-len(rows) // flushes)
    start = time.perf_counter()
    for lo in range(0, len(rows), per):
        chunk = rows[lo : lo + per]
        store.write_curves("bench", "run0", chunk, chunk[0]["step"], chunk[-1]["step"])
        mirror.log_curves(run, chunk)
    return time.perf_counter() - start


def one_call_per_point(root: Path, rows: list[dict]) -> float:
    mirror = Mirror(default_tracking_uri(root))
    run = mirror.child_run("bench", "run0", "run0", {"a": 1}, {})
    client = mirror.client
    start = time.perf_counter()
    for r in rows:
        client.log_metric(run, f"{r['split']}/{r['metric']}", r["value"], step=r["step"])
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--points", type=int, default=10_000)
    p.add_argument("--flushes", type=int, default=10)
    args = p.parse_args()
    rows = curve_rows(args.points)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        fast = ours(Path(a), rows, args.flushes)
        slow = one_call_per_point(Path(b), rows)
    print(f"{len(rows):,} points: store (Parquet + MLflow log_batch, {args.flushes} flushes) {fast:.2f}s; "
          f"mlflow log_metric per point {slow:.2f}s; ratio {slow / fast:.0f}x")  # fmt: skip


if __name__ == "__main__":
    main()
