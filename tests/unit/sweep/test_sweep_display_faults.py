"""What the sweep display said wrong: a pack's members all printed the count after the last one
("3/3 finished" three times), a failed cell's Ray error came with ANSI colour codes and a cut
traceback, a wait for a stale claim said nothing, and the cells table showed ``888.0``/``nan`` for
parameters beside a failed row, had no task-options column and listed runs not in the spec."""

from __future__ import annotations

import io
import json
import traceback
from collections import Counter

import pandas as pd
from rich.console import Console

from search_scaling.store import Stores, record_run
from search_scaling.sweep.progress import SweepDisplay, summary_table
from search_scaling.sweep.runner import CellOutcome, _outcomes, _waiting_line
from search_scaling.sweep.session import run_session
from search_scaling.sweep.spec import parse_sweep
from search_scaling.sweep.state import SweepState

BODY = {"name": "pk", "tasks": [{"task": "maze", "sizes": [3]}], "models": ["L1-D8"], "seeds": [0, 1, 2],
        "budget": {"steps": 4}, "training": {"eval_points": 2, "eval_examples": 16}}  # fmt: skip


def _text(table) -> str:
    out = io.StringIO()
    Console(file=out, width=1000).print(table)
    return out.getvalue()


def test_the_members_of_a_pack_are_counted_in_turn():
    out = io.StringIO()
    state = SweepState(parse_sweep(BODY))
    with SweepDisplay(Console(file=out, width=1000, highlight=False)) as display:
        state.set_stage("running")
        state.add_outcomes([CellOutcome(h, "done", {"exact": 0.5}, 2.0) for h in state.sweep.run_hashes])
        state.counts = Counter(done=3)
        display(state)
    counts = [line.rsplit("; ", 1)[1] for line in out.getvalue().splitlines() if line.count("; ")]
    assert counts == ["1/3 finished", "2/3 finished", "3/3 finished"]


def test_a_failed_task_is_one_plain_line_naming_its_own_error():
    from ray.exceptions import RayTaskError

    try:
        raise ValueError("init_from: source run abc is 'failed'")
    except ValueError as cause:
        err = RayTaskError("run_cell", traceback.format_exc(), cause).as_instanceof_cause()
    assert "\x1b[" in str(err)  # what Ray renders: colour codes around the task's name

    class Ray:
        def get(self, ref):
            raise err

    (spec,) = parse_sweep(BODY).cells[:1]
    (outcome,) = _outcomes(Ray(), None, (spec,))
    assert outcome.final["error"] == "ValueError: init_from: source run abc is 'failed'"


def test_a_wait_for_another_drivers_claim_says_who_holds_it(tmp_path):
    stores = Stores.resolve(tmp_path, mlflow=False)
    spec = parse_sweep(BODY).cells[0]
    stores.ledger.ensure("pk", [spec.run_hash])
    stores.ledger.claim(spec.run_hash, "pk:dead0000:x")
    line = _waiting_line(stores, spec)
    assert line.startswith(
        f"waiting for maze-3 L1-D8 s0 ({spec.run_hash}): held by 'pk:dead0000:x', last heartbeat"
    )
    assert "taken over once that heartbeat is 60s old" in line


def test_the_cells_table_shows_whole_parameters_options_and_only_the_specs_runs(tmp_path):
    sweep = parse_sweep(BODY)
    stores = Stores.resolve(tmp_path, mlflow=False)
    for cell in sweep.cells[:2]:
        record_run(cell, stores)
    old = sweep.cells[2].with_(
        steps=3, task_options={"generator": "wilson"}
    )  # an earlier version of the spec
    record_run(old, stores)
    runs = stores.parquet.runs("pk")
    failed = runs.iloc[[0]].assign(run_hash="f" * 16, status="failed", params_nonembed=None, steps=None,
                                   final_json=None, train_seconds=None)  # fmt: skip
    text = _text(summary_table(pd.concat([runs, failed], ignore_index=True)))
    assert "888" in text and "888.0" not in text and "nan" not in text
    assert "options" in text and "generator=wilson" in text  # variants no longer look identical

    out = io.StringIO()
    sweep = parse_sweep({**BODY, "seeds": [0, 1]})  # all finished: no Ray
    assert run_session(sweep, stores, report=False, console=Console(file=out, width=1000)) == 0
    table = out.getvalue().split("cells", 1)[1]
    assert "wilson" not in table and table.count(" done ") == 2  # the old run is not this spec's
    assert json.loads(runs["spec_json"].iloc[0])["sweep"] == "pk"


def test_rays_messages_about_a_killed_worker_go_to_the_log_even_after_the_sweep(tmp_path, capsys):
    from ray._private import worker

    from search_scaling.sweep.logs import stderr_to
    from search_scaling.sweep.ray_output import ray_messages_to_log

    assert ray_messages_to_log() and ray_messages_to_log()  # wrapped once, however often asked
    with stderr_to(tmp_path / "sweep.log"):
        pass  # the sweep; Ray's deduplicated repeats come seconds after it
    message = {
        "lines": ["A worker died or was killed while executing a task"],
        "pid": "raylet",
        "is_err": False,
    }
    worker.print_to_stdstream(message, ignore_prefix=False)  # how Ray's error thread prints it
    out, err = capsys.readouterr()
    assert out == err == "" and "A worker died" in (tmp_path / "sweep.log").read_text()


def test_a_ctrl_c_during_clean_up_is_noted_not_raised(capsys):
    import os
    import signal

    from search_scaling.sweep.ray_exit import sigint_held

    before = signal.getsignal(signal.SIGINT)
    with sigint_held("releasing the interrupted runs") as pressed:
        os.kill(os.getpid(), signal.SIGINT)  # delivered at once to this (main) thread: no KeyboardInterrupt
    assert pressed == [signal.SIGINT] and signal.getsignal(signal.SIGINT) is before
    assert "releasing the interrupted runs" in capsys.readouterr().err
