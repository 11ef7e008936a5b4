"""Live terminal view of a sweep and its final summary table (rich)."""

from __future__ import annotations

import time
from collections import Counter

from rich.console import Console
from rich.live import Live
from rich.table import Table

ORDER = ("done", "running", "pending", "failed", "diverged")


class SweepProgress:
    def __init__(self, sweep, console: Console | None = None):
        self.sweep, self.console = sweep, console or Console()
        self.start = time.perf_counter()
        self.live = Live(self._render(Counter(), [], 0), console=self.console, refresh_per_second=2)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        self.live.__exit__(*exc)

    def __call__(self, counts: Counter, outcomes: list, running: int) -> None:
        self.live.update(self._render(counts, outcomes, running))

    def _render(self, counts: Counter, outcomes: list, running: int) -> Table:
        total = len(self.sweep.cells)
        finished = counts.get("done", 0) + counts.get("diverged", 0)
        elapsed = time.perf_counter() - self.start
        timed = [o.seconds for o in outcomes if o.seconds > 0]
        left = total - finished
        lanes = max(1, min(self.sweep.max_concurrent, left))
        eta = f", ETA {sum(timed) / len(timed) * left / lanes:.0f}s" if timed else ""
        best = max((o.final.get("exact", float("nan")) for o in outcomes if o.final), default=None)
        title = f"sweep {self.sweep.name}: {finished}/{total} cells finished, {elapsed:.0f}s elapsed{eta}"
        table = Table(title=title)
        for key in ORDER:
            table.add_column(key)
        table.add_column("best exact")
        table.add_row(*[str(counts.get(k, 0)) for k in ORDER], f"{best:.3f}" if best is not None else "-")
        return table


def summary_table(runs) -> Table:
    """One row per run of the sweep from the store's runs table."""
    import json

    table = Table(title="cells")
    for col in ("task", "size", "model", "params", "seed", "status", "steps", "loss", "exact", "seconds"):
        table.add_column(col, justify="right")
    for row in runs.sort_values(["task", "task_size", "params_nonembed", "seed"]).itertuples(index=False):
        final = json.loads(row.final_json) if isinstance(row.final_json, str) else {}  # NaN: none
        table.add_row(row.task, str(row.task_size), row.model, f"{row.params_nonembed:,}", str(row.seed),
                      row.status, _fmt(row.steps, "d"), _fmt(final.get("loss")), _fmt(final.get("exact")),
                      _fmt(row.train_seconds, ".0f"))  # fmt: skip
    return table


def _fmt(value, spec: str = ".3f") -> str:
    if value is None or value != value:
        return "-"
    return format(int(value) if spec == "d" else value, spec)
