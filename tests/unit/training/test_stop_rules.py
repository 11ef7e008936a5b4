"""Stop rules: the decision on planted curves (target, log-step plateau), real Lightning runs that stop
on target and on plateau at the evaluation step the unstopped curve says, a killed run that resumes
to the same stop, a pack whose stopped member is frozen while the others go on, and bad rules."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.budget import compute_to_target
from search_scaling.training import RunSpec, train_one
from search_scaling.training.pack_run import train_pack
from search_scaling.training.stop import decide, plateaued
from tests.crashes import CrashAt

TINY = dict(task="maze", size=3, model="L1-D8", eval_points=8, eval_examples=32, steps=80)
# The unstopped run of TINY evaluates at steps 0 1 2 3 7 12 23 40 43 80; its held-out exact accuracy
# is 0 up to step 43, and its loss falls steadily (2.94 at step 3, 2.57 at 23, 2.36 at 40).
LOSS_TARGET = 2.45


def rows_of(curve: dict[int, float], metric: str = "loss") -> list[dict]:
    return [{"step": s, "split": "eval", "metric": metric, "value": v} for s, v in curve.items()]


def held_out(result, metric: str) -> dict[int, float]:
    return {r["step"]: r["value"] for r in result.rows if r["split"] == "eval" and r["metric"] == metric}


@pytest.fixture(scope="module")
def unstopped(tmp_path_factory):
    return train_one(RunSpec(**TINY), tmp_path_factory.mktemp("full"))


# -- the decision on planted curves ------------------------------------------------------------------
def test_target_is_the_first_evaluation_that_reaches_it_in_the_metrics_direction():
    exact = rows_of({0: 0.0, 10: 0.5, 20: 0.99, 30: 1.0}, "exact")
    stop = {"target": {"metric": "exact", "value": 0.99}}
    assert [s for s in (10, 20, 30) if decide(stop, exact, s)] == [20, 30]
    loss = rows_of({0: 3.0, 10: 1.0, 20: 0.4})
    assert decide({"target": {"metric": "loss", "value": 0.5}}, loss, 10) is None
    assert decide({"target": {"metric": "loss", "value": 0.5}}, loss, 20) == "target"
    assert decide({"target": {"metric": "loss", "value": 5.0}}, loss, 0) is None  # judged after step 0


def test_plateau_means_the_same_early_and_late_in_log_step():
    """A curve that rises until step s0 and is flat after stops at 2 s0 with patience 1, and at
    4 s0 with patience 3, whatever s0: the rule depends on step ratios only. Evaluations are
    log-spaced (as `eval_steps` makes them), 8 per doubling."""
    rule = {"patience": 1.0, "min_delta": 1e-3, "min_steps": 0}
    for s0 in (16, 1024, 65536):
        steps = sorted({round(2 ** (k / 8)) for k in range(0, 8 * 22)})
        curve = {s: min(math.log(s + 1), math.log(s0 + 1)) for s in steps}
        first = [next(s for s in steps if plateaued(curve, s, {**rule, "patience": p}, higher=True))
                 for p in (1.0, 3.0)]  # fmt: skip
        assert 2 * s0 <= first[0] <= 2 * s0 * 2 ** (1 / 8) + 1
        assert 4 * s0 <= first[1] <= 4 * s0 * 2 ** (1 / 8) + 1


def test_plateau_waits_for_warmup_and_min_steps_and_ignores_nan():
    flat = {s: 1.0 for s in (0, 1, 2, 4, 8, 16, 32, 64)}
    rule = {"patience": 1.0, "min_delta": 0.0, "min_steps": 0}
    assert plateaued(flat, 2, rule, higher=False)  # boundary 1: step 1 brought nothing after step <= 1
    assert not plateaued(flat, 8, rule, higher=False, warmup_steps=5)  # boundary 4 < warm-up 5
    assert plateaued(flat, 16, rule, higher=False, warmup_steps=5)
    assert not plateaued(flat, 16, {**rule, "min_steps": 20}, higher=False)
    assert not plateaued({**flat, 32: math.nan, 64: math.nan}, 64, {**rule, "patience": 1.0}, higher=False)
    assert not plateaued({0: 2.0, 8: 1.0, 16: 0.5}, 16, rule, higher=False)  # still falling


# -- real runs ---------------------------------------------------------------------------------------
def test_a_run_stops_on_target_at_the_first_evaluation_that_reaches_it(unstopped, tmp_path):
    loss = held_out(unstopped, "loss")
    want = min(s for s, v in loss.items() if s > 0 and v <= LOSS_TARGET)
    assert 0 < want < 80  # the planted answer lies inside the run
    stop = {"target": {"metric": "loss", "value": LOSS_TARGET}}
    result = train_one(RunSpec(**TINY, stop=stop), tmp_path)
    assert (result.status, result.stop_reason, result.steps) == ("done", "target", want)
    assert max(r["step"] for r in result.rows) == want
    assert held_out(result, "loss") == {s: v for s, v in loss.items() if s <= want}  # same run until then
    assert unstopped.stop_reason == "budget" and unstopped.steps == 80
    rows = pd.DataFrame(unstopped.rows).assign(run_hash="r")  # the analysis finds the same step
    assert compute_to_target(rows, LOSS_TARGET, metric="loss").loc[0, "step"] == want


def test_a_run_stops_on_plateau_where_the_log_step_window_shows_no_gain(unstopped, tmp_path):
    """exact stays 0 up to step 43 (`TINY`): with patience 1 the first step whose window (s/2, s]
    starts past the warm-up (2 steps) is 7; with min_steps 30 it is 40 (window (20, 40])."""
    assert all(v == 0 for s, v in held_out(unstopped, "exact").items() if s <= 43)
    plateau = {"metric": "exact", "patience": 1, "min_delta": 0.0}
    early = train_one(RunSpec(**TINY, stop={"plateau": plateau}), tmp_path / "a")
    assert (early.status, early.stop_reason, early.steps) == ("done", "plateau", 7)
    later = train_one(RunSpec(**TINY, stop={"plateau": {**plateau, "min_steps": 30}}), tmp_path / "b")
    assert (later.stop_reason, later.steps) == ("plateau", 40)


def test_a_killed_run_resumes_and_stops_at_the_same_step(tmp_path):
    spec = RunSpec(**TINY, stop={"target": {"metric": "loss", "value": LOSS_TARGET}})
    straight = train_one(spec, tmp_path / "a")
    with pytest.raises(RuntimeError, match="injected crash"):  # after the checkpoint at step 23
        train_one(spec, tmp_path / "b", checkpoint_every_s=0, callbacks=(CrashAt(30),))
    resumed = train_one(spec, tmp_path / "b", checkpoint_every_s=0)
    assert (resumed.stop_reason, resumed.steps) == (straight.stop_reason, straight.steps)
    key = lambda r: (r["step"], r["split"], r["metric"], r["value"])  # noqa: E731
    assert [key(r) for r in resumed.rows] == [key(r) for r in straight.rows]
    again = train_one(spec, tmp_path / "b")  # killed after stopping: returns, trains no further
    assert (again.status, again.stop_reason, again.steps, len(again.rows)) == (
        "done", "target", straight.steps, len(straight.rows))  # fmt: skip


def test_a_pack_member_that_stops_is_frozen_while_the_others_go_on(unstopped, tmp_path):
    stop = {"target": {"metric": "loss", "value": LOSS_TARGET}}
    specs = [RunSpec(**TINY, stop=stop), RunSpec(**TINY, seed=1), RunSpec(**TINY)]  # same shape
    stopped, other, plain = train_pack(specs, tmp_path, checkpoint_every_s=0)
    alone = train_one(specs[0], tmp_path / "solo")
    assert (stopped.stop_reason, stopped.steps) == ("target", alone.steps) and alone.steps < 80
    assert max(r["step"] for r in stopped.rows) == alone.steps  # nothing recorded after its stop
    assert np.allclose(list(held_out(stopped, "loss").values()), list(held_out(alone, "loss").values()),
                       rtol=1e-4)  # fmt: skip
    assert torch.load(stopped.checkpoint, weights_only=True)["global_step"] == alone.steps  # frozen there
    assert (other.stop_reason, other.steps, plain.stop_reason, plain.steps) == ("budget", 80, "budget", 80)
    want = held_out(unstopped, "loss")
    assert np.allclose([held_out(plain, "loss")[s] for s in want], list(want.values()), rtol=1e-4)
    resumed = train_pack(specs, tmp_path, checkpoint_every_s=0)  # all finished: returned as they were
    assert [(r.stop_reason, r.steps) for r in resumed] == [("target", alone.steps), *[("budget", 80)] * 2]


# -- identity and bad input ----------------------------------------------------------------------------
def test_no_stop_rule_keeps_the_run_hash_and_equal_rules_hash_equally():
    assert RunSpec(**TINY).run_hash == "0f59787c4a27bc75"  # as recorded before stop rules existed
    a = RunSpec(**TINY, stop={"plateau": {"metric": "loss", "patience": 1}})
    b = RunSpec(**TINY, stop={"plateau": {"metric": "loss", "patience": 1.0, "min_delta": 0, "min_steps": 0}})
    assert a.run_hash == b.run_hash != RunSpec(**TINY).run_hash


@pytest.mark.parametrize(
    ("stop", "words"),
    [
        ({"target": {"metric": "exact", "value": 1.5}}, "stop.target.value must be in [0, 1] for the accur"),
        ({"target": {"metric": "loss", "value": -1}}, "stop.target.value must be >= 0 for the loss"),
        ({"plateau": {"metric": "loss", "patience": 0.5}}, "stop.plateau.patience must be a number >= 1"),
        ({"plateau": {"metric": "loss", "min_delta": -1}}, "stop.plateau.min_delta must be a finite number"),
        ({"plateau": {"patience": 2}}, "stop.plateau.metric: required"),
        ({"target": {"metric": "exact"}}, "stop.target.value: required"),
        ({"patience": 2}, "stop.patience: unknown rule; allowed: target, plateau"),
        ({"target": {"metric": "exact", "value": 0.9, "split": "x"}}, "stop.target.split: unknown key"),
        ({"target": {"metric": "answer_len", "value": 9}}, "is a property of the data"),
    ],
)
def test_bad_stop_rules_fail_at_construction_naming_the_field(stop, words):
    with pytest.raises(ValueError, match="invalid run spec") as err:
        RunSpec(**TINY, stop=stop)
    assert words in str(err.value)
