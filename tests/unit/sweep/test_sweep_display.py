"""The sweep display, driven through a sweep's life without Ray: piped output is plain, complete,
timestamped lines from the first stage to the last cell; a terminal gets a live view whose start-up
stage and elapsed time move on their own; the end is a summary in words."""

from __future__ import annotations

import io
import re
import time
from collections import Counter

from rich.console import Console

from search_scaling.sweep.progress import (
    SweepDisplay,
    running_table,
    shown_counts,
    summary_table,
    summary_words,
)
from search_scaling.sweep.runner import CellOutcome
from search_scaling.sweep.spec import parse_sweep
from search_scaling.sweep.state import SweepState

BODY = {"name": "show", "tasks": [{"task": "maze", "sizes": [3]}], "models": ["L1-D8", "L2-D16"],
        "seeds": [0], "budget": {"steps": 5}}  # fmt: skip


def _life(display: SweepDisplay, reused: int = 0) -> SweepState:
    """Drive ``display`` through what `run_sweep` does: stages, then two cells that end."""
    sweep = parse_sweep(BODY)
    state = SweepState(sweep)
    first, second = sweep.cells
    state.counts = Counter(pending=2)
    state.set_stage("setting up the ledger and MLflow")
    display(state)
    state.to_run, state.reused = 2 - reused, reused  # the ledger read, what to run is known
    for stage in ("starting Ray", "warming 2 workers"):
        state.set_stage(stage)
        display(state)
    state.notes.append("Ray: 127.0.0.1:6379 (2 CPUs)")
    state.set_stage("running")
    state.counts = Counter(running=2)
    display(state)
    state.add_outcomes([CellOutcome(first.run_hash, "done", {"exact": 0.25, "loss": 1.5}, 3.0)])
    state.counts = Counter(done=1, running=1)
    display(state)
    state.add_outcomes([CellOutcome(second.run_hash, "done", {"exact": 0.75, "loss": 0.5}, 4.0)])
    state.counts = Counter(done=2)
    state.set_stage("finished")
    display(state)
    return state


def test_piped_output_is_plain_complete_lines_from_the_first_stage():
    out = io.StringIO()
    console = Console(file=out, width=1000, highlight=False)  # what `make_console` gives a pipe
    with SweepDisplay(console) as display:
        state = _life(display)
    lines, hashes = out.getvalue().splitlines(), state.sweep.run_hashes
    assert lines[0].startswith("[    0s since start] ")  # a time figure says what it counts
    assert [re.sub(r"^\[ *\d+s since start\] ", "", line) for line in lines] == [
        "setting up the ledger and MLflow...",
        "starting Ray... (2 of 2 cells to run, 0 reused)",
        "warming 2 workers...",
        "Ray: 127.0.0.1:6379 (2 CPUs)",
        "running 2 cell(s), 2 at a time",
        f"done maze-3 L1-D8 s0 ({hashes[0]}): exact 0.250, loss 1.500 in 3s; 1/2 finished",
        f"done maze-3 L2-D16 s0 ({hashes[1]}): exact 0.750, loss 0.500 in 4s; 2/2 finished",
        "finished: 2/2 cells",
    ]
    assert "\x1b" not in out.getvalue()
    words = summary_words(state)
    assert words.startswith("sweep show: 2 cells: 2 done; 2 trained now, 0 reused from earlier runs; ")
    assert f"  best exact on maze-3: 0.750 (maze-3 L2-D16 s0, {state.sweep.cells[1].run_hash})" in words


def test_a_terminal_gets_a_live_view_whose_start_up_clock_runs_on_its_own():
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    with SweepDisplay(console) as display:
        state = SweepState(parse_sweep(BODY))
        state.counts = Counter(pending=2)
        state.set_stage("starting Ray")
        display(state)
        time.sleep(1.3)  # no call: `Live` redraws, and the stage's seconds move
        seen = out.getvalue()
    assert "starting Ray... (0 of 2 cells to run, 0 reused)  (this stage 1s, 1s since start)" in seen
    assert "sweep show: 0/2 cells finished, 1s elapsed" in seen and "pending" in seen


def test_a_rerun_with_nothing_to_train_says_what_it_reused():
    out = io.StringIO()
    sweep = parse_sweep(BODY)
    state = SweepState(sweep, reused=2, counts=Counter(done=2))
    with SweepDisplay(Console(file=out, width=1000)) as display:
        state.set_stage("nothing to run")
        display(state)
    assert (
        out.getvalue().split("] ", 1)[1].startswith("all 2 cells finished before: nothing to run (2 reused)")
    )
    assert summary_words(state).startswith("sweep show: 2 cells: 2 done; 0 trained now, 2 reused")


def test_the_cells_table_is_complete_when_piped():
    import pandas as pd

    row = {
        "run_hash": "398825ab12cd34ef",
        "task": "maze",
        "task_size": 3,
        "model": "L2-D32",
        "params_nonembed": 25472,
        "seed": 0,
        "status": "done",
        "steps": 1000,
        "final_json": '{"loss": 0.5, "exact": 0.75}',
        "train_seconds": 12.0,
    }
    runs = pd.DataFrame([row])
    out = io.StringIO()
    Console(file=out, width=1000).print(summary_table(runs))
    assert "25,472" in out.getvalue() and "…" not in out.getvalue() and "seconds" in out.getvalue()
    assert "398825ab12cd34ef" in out.getvalue()  # what `inspect` takes


def test_cells_handed_to_ray_count_as_running_as_the_stage_line_says():
    state = SweepState(parse_sweep(BODY), counts=Counter(pending=2), running=2, to_run=2)
    state.set_stage("running")  # the workers have not claimed their cells in the ledger yet
    assert shown_counts(state) == Counter(running=2, pending=0)
    state.counts = Counter(running=1, pending=1)  # one claimed
    assert shown_counts(state) == Counter(running=2, pending=0)
    state.set_stage("finished")
    state.running, state.counts = 0, Counter(done=2)
    assert shown_counts(state) == Counter(done=2)


def test_running_cells_show_step_loss_and_eta_from_their_curve_flushes(monkeypatch):
    sweep = parse_sweep(BODY)  # 5 steps per cell
    state = SweepState(sweep)
    cell = sweep.cells[0]
    now = [100.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    state.see_progress(cell.run_hash, 1, {"loss": 2.0})  # first flush seen at t=100
    now[0] = 110.0
    state.see_progress(cell.run_hash, 3, {"loss": 1.25})  # 2 steps in 10 s: the 2 steps left take 10 s
    assert state.eta_s(cell.run_hash) == 10.0
    out = io.StringIO()
    Console(file=out, width=200).print(running_table(state))
    row = next(line for line in out.getvalue().splitlines() if cell.run_hash[:6] in line)
    assert "maze-3 L1-D8 s0" in row and "3/5" in row and "1.250" in row and "10s" in row


def test_the_latest_flush_of_a_run_is_read_from_its_newest_part(tmp_path):
    from search_scaling.store import ParquetStore
    from tests.unit.store.test_parquet import rows

    store = ParquetStore(tmp_path)
    assert store.latest("s", "r1") is None  # nothing flushed yet
    store.write_curves("s", "r1", rows(range(0, 3), value=0.5), 0, 2)
    store.write_curves("s", "r1", rows(range(3, 5), value=0.25), 3, 4)
    assert store.latest("s", "r1") == (4, {"loss": 0.25, "exact": 0.25})
