"""What a person sees of a running sweep: a live view on a terminal, plain complete lines
otherwise (a pipe, a log file, a Ray job), then the cells table and a summary in words.

Both read one `SweepState` (`search_scaling.sweep.state`), which tells the truth from the first
second: the stage (checking the ledger, starting Ray, warming workers, running) with its elapsed
time, the ledger's counts, what was reused, what finished and the best primary metric per size.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table

from search_scaling.sweep.state import FINISHED, SweepState

ORDER = ("done", "running", "pending", "failed", "diverged")
STARTING = ("setting up the ledger and MLflow", "starting Ray")
PLAIN_WIDTH = 1000  # not a terminal: tables are as wide as their content, never cut ("25,4…")


def make_console() -> Console:
    """A console for stdout: a terminal's own width, or wide enough for any table elsewhere."""
    console = Console()
    return console if console.is_terminal else Console(width=PLAIN_WIDTH, highlight=False)


class SweepDisplay:
    """``with SweepDisplay(console) as show: run_sweep(..., progress=show)``. Every mode prints the
    same lines (notes, each cell that ends); a terminal also gets a live spinner and counts table."""

    def __init__(self, console: Console | None = None):
        self.console = console or make_console()
        self.live_mode = self.console.is_terminal
        self.state: SweepState | None = None
        self.live: Live | None = None
        self.spinner = Spinner("dots", " reading the sweep and the ledger...")
        self._stage, self._outcomes, self._notes = None, 0, 0

    def __enter__(self):
        if self.live_mode:  # stderr stays where it is (a log file while a sweep runs: `logs.stderr_to`)
            self.live = Live(self, console=self.console, refresh_per_second=4, redirect_stderr=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def __call__(self, state: SweepState) -> None:
        self.state = snapshot(state)  # `Live` redraws from its own thread: never a value in change
        for line in state.notes[self._notes :]:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        self._notes = len(state.notes)
        new = state.outcomes[self._outcomes :]
        for i, outcome in enumerate(new):  # what ended, then the stage it led to
            later = sum(o.status in FINISHED for o in new[i + 1 :])  # a pack's members end together
            self._line(state, outcome_line(state, outcome, state.finished - later))
        self._outcomes = len(state.outcomes)
        if state.stage != self._stage:
            self._stage = state.stage
            if not self.live_mode or state.stage in ("running", "nothing to run"):
                self._line(state, stage_line(state))
        if self.live is not None:
            self.live.refresh()

    def _line(self, state: SweepState, text: str) -> None:
        self.console.print(f"[{state.elapsed:5.0f}s since start] {text}", markup=False, highlight=False,
                           soft_wrap=True)  # fmt: skip

    def __rich__(self):  # redrawn by `Live` 4 times a second: the elapsed time moves on its own
        state = self.state
        if state is None:
            return self.spinner
        if state.stage in STARTING or state.stage.startswith(("warming", "connecting")):
            waited = time.perf_counter() - state.stage_since
            self.spinner.update(text=f" {stage_line(state)}  (this stage {waited:.0f}s, {state.elapsed:.0f}s "
                                     "since start)")  # fmt: skip
            return Group(self.spinner, counts_table(state))
        running = running_table(state)
        return counts_table(state) if running is None else Group(counts_table(state), running)


def snapshot(state: SweepState) -> SweepState:
    """A copy whose containers the driver does not change any more (the clock still runs)."""
    return dataclasses.replace(state, counts=Counter(state.counts), best=dict(state.best),
                               outcomes=list(state.outcomes), notes=list(state.notes),
                               live=dict(state.live))  # fmt: skip


def stage_line(state: SweepState) -> str:
    """One line for the stage the sweep is in, with what it is doing it to."""
    if state.stage == "nothing to run":
        return f"all {state.total} cells finished before: nothing to run ({state.reused} reused)"
    if state.stage == "running":
        reused = f", {state.reused} finished before (reused)" if state.reused else ""
        lanes = min(state.sweep.max_concurrent, state.to_run)
        return f"running {state.to_run} cell(s), {lanes} at a time{reused}"
    if state.stage.startswith(("starting Ray", "connecting to Ray")):
        return f"{state.stage}... ({state.to_run} of {state.total} cells to run, {state.reused} reused)"
    if state.stage == "finished":
        return f"finished: {state.finished}/{state.total} cells"
    return state.stage + ("..." if not state.stage.endswith("...") else "")


def outcome_line(state: SweepState, outcome, finished: int | None = None) -> str:
    """``done maze-3 L1-D8 s0 (hash): exact 0.750, loss 0.500 in 4s; 3/6 finished``; ``finished``:
    the count as of this cell (the members of a pack end at once, each counted in turn)."""
    spec = state.by_hash.get(outcome.run_hash)
    label = spec.label if spec is not None else outcome.run_hash
    metric = spec.task_obj.primary_metric if spec is not None else "exact"
    shown = [
        f"{k} {outcome.final[k]:.3f}" for k in (metric, "loss") if isinstance(outcome.final.get(k), float)
    ]
    error = outcome.final.get("error") if outcome.status == "failed" else None
    what = ", ".join(shown) or (error or "")
    took = f" in {outcome.seconds:.0f}s" if outcome.seconds > 0 else ""
    return (f"{outcome.status} {label} ({outcome.run_hash}){': ' + what if what else ''}{took}; "
            f"{state.finished if finished is None else finished}/{state.total} finished")  # fmt: skip


def counts_table(state: SweepState) -> Table:
    elapsed, left = state.elapsed, state.total - state.finished
    timed = [o.seconds for o in state.outcomes if o.seconds > 0]
    lanes = max(1, min(state.sweep.max_concurrent, left))
    eta = f", ETA {sum(timed) / len(timed) * left / lanes:.0f}s" if timed and left else ""
    reused = f" ({state.reused} reused)" if state.reused else ""
    title = (f"sweep {state.sweep.name}: {state.finished}/{state.total} cells finished{reused}, "
             f"{elapsed:.0f}s elapsed{eta}")  # fmt: skip
    table = Table(title=title)
    for key in ORDER:
        table.add_column(key, justify="right")
    table.add_column("best (per problem size)")
    counts = shown_counts(state)
    table.add_row(*[str(counts.get(k, 0)) for k in ORDER], best_text(state) or "-")
    return table


def shown_counts(state: SweepState) -> Counter:
    """The ledger's counts, with the cells already handed to Ray counted as running: a worker claims
    its cell in the ledger a moment after it starts, and the stage line already says "running"."""
    counts = Counter(state.counts)
    handed = state.running - counts.get("running", 0)
    if state.stage == "running" and handed > 0:
        moved = min(handed, counts.get("pending", 0))
        counts["running"] += moved
        counts["pending"] -= moved
    return counts


def running_table(state: SweepState) -> Table | None:
    """The cells in flight: step (of their budget), latest loss and ETA, from their curve flushes."""
    if not state.live:
        return None
    table = Table(title="running (as of each cell's latest curve flush)")
    for col in ("cell", "step", "loss", "ETA"):
        table.add_column(col, justify="left" if col == "cell" else "right", no_wrap=True)
    by_hash = state.by_hash
    for run_hash, (step, values, _) in sorted(state.live.items()):
        spec = by_hash.get(run_hash)
        label = f"{spec.label} ({run_hash[:6]})" if spec is not None else run_hash
        of = f"/{spec.steps}" if spec is not None and spec.steps else ""
        eta = state.eta_s(run_hash)
        table.add_row(label, f"{step}{of}", _fmt(values.get("loss")), "-" if eta is None else f"{eta:.0f}s")
    return table


def best_text(state: SweepState) -> str:
    """``exact maze-2 1.000, maze-3 0.705``: the best primary metric per task and size so far."""
    by_metric: dict[str, list[str]] = {}
    for (task, size, metric), (value, _) in sorted(state.best.items()):
        by_metric.setdefault(metric, []).append(f"{task}-{size} {value:.3f}")
    return "; ".join(f"{metric} {', '.join(parts)}" for metric, parts in by_metric.items())


def summary_words(state: SweepState) -> str:
    """The end of a sweep in words: what finished, what was reused, how long, and the best cells."""
    counts, total = state.counts, state.total
    trained = sum(1 for o in state.outcomes if o.status in ("done", "diverged"))
    parts = [f"{counts.get(k, 0)} {k}" for k in ("done", "diverged", "failed", "running", "pending")
             if counts.get(k, 0)]  # fmt: skip
    startup = f" (start-up {state.startup_s:.0f}s)" if state.startup_s is not None else ""
    took = f"{state.elapsed:.0f}s{startup}"
    lines = [f"sweep {state.sweep.name}: {total} cells: {', '.join(parts) or 'none run'}; {trained} "
             f"trained now, {state.reused} reused from earlier runs; {took}"]  # fmt: skip
    by_hash = state.by_hash
    for (task, size, metric), (value, run_hash) in sorted(state.best.items()):
        cell = by_hash.get(run_hash)
        lines.append(
            f"  best {metric} on {task}-{size}: {value:.3f} ({cell.label if cell else run_hash}, {run_hash})"
        )
    return "\n".join(lines)


def summary_table(runs) -> Table:
    """One row per run of the sweep from the store's runs table, with its hash (what `inspect` takes),
    and an ``options`` column when any run has task options (variants would look identical)."""
    import json

    texts = runs["spec_json"] if "spec_json" in runs else [None] * len(runs)
    options = [
        _options_text(json.loads(s).get("task_options") if isinstance(s, str) else None) for s in texts
    ]
    shown = any(options)
    columns = ["run_hash", "task", "size", *(["options"] if shown else []), "model", "params", "seed",
               "status", "steps", "loss", "exact", "seconds"]  # fmt: skip
    table = Table(title="cells")
    for col in columns:
        table.add_column(col, justify="left" if col == "options" else "right", no_wrap=True)
    order = runs.assign(options_text=options)
    order = order.sort_values(["task", "task_size", "options_text", "params_nonembed", "seed"])
    for row in order.itertuples(index=False):
        final = json.loads(row.final_json) if isinstance(row.final_json, str) else {}  # NaN: none
        cells = [row.run_hash, row.task, str(row.task_size), *([row.options_text or "-"] if shown else []),
                 row.model, _fmt(row.params_nonembed, ",d"), _fmt(row.seed, "d"), row.status,
                 _fmt(row.steps, "d"), _fmt(final.get("loss")), _fmt(final.get("exact")),
                 _fmt(row.train_seconds, ".0f")]  # fmt: skip
        table.add_row(*cells)
    return table


def _options_text(options) -> str:
    """``variant=standard, p=0.3``: a run's task options, compact; empty when it has none."""
    return ", ".join(f"{k}={v}" for k, v in sorted((options or {}).items()))


def _fmt(value, spec: str = ".3f") -> str:
    if value is None or value != value:
        return "-"
    return format(int(value) if spec.endswith("d") else value, spec)
