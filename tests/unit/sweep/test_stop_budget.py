"""Stop rules in a sweep's budget: they reach every cell (steps stay the cap), and a bad rule fails at
validation with one error naming the budget field and what is allowed."""

from __future__ import annotations

import pytest

from search_scaling.sweep.spec import SpecError, parse_sweep

BASE = {"name": "t", "tasks": [{"task": "maze", "sizes": [3, 4]}], "models": ["L1-D8"]}
STOP = {"target": {"metric": "exact", "value": 0.99}, "plateau": {"metric": "loss", "patience": 2}}


def test_a_budget_stop_rule_reaches_every_cell_and_keeps_the_cap():
    plain = parse_sweep({**BASE, "budget": {"steps": 500}})
    stopped = parse_sweep({**BASE, "budget": {"steps": 500, "stop": STOP}})
    for a, b in zip(plain.cells, stopped.cells):
        assert b.steps == 500 and b.stop["target"] == {"metric": "exact", "value": 0.99}
        assert b.stop["plateau"] == {"metric": "loss", "patience": 2.0, "min_delta": 0.0, "min_steps": 0}
        assert a.run_hash != b.run_hash and not a.stop
    by_tokens = parse_sweep({**BASE, "budget": {"tokens": 10_000, "stop": STOP}}).cells[0]
    assert by_tokens.tokens == 10_000 and by_tokens.stop == stopped.cells[0].stop


def test_stop_is_set_in_the_budget_only():
    with pytest.raises(SpecError, match="training.stop: not a training field"):
        parse_sweep({**BASE, "budget": {"steps": 5}, "training": {"stop": STOP}})


@pytest.mark.parametrize(
    ("stop", "words"),
    [
        ({"target": {"metric": "wall_hits", "value": 0.9}},
         "budget.stop.target.metric: 'wall_hits' is not logged by task 'maze'; it logs: answer_logprob"),
        ({"target": {"metric": "exact", "value": 1.2}},
         "budget.stop.target.value must be in [0, 1] for the accuracy 'exact', got 1.2"),
        ({"plateau": {"metric": "loss", "patience": 0}},
         "budget.stop.plateau.patience must be a number >= 1"),
        ({"plateau": {"metric": "loss", "min_steps": -3}}, "budget.stop.plateau.min_steps must be an int"),
        ({"stall": {}}, "budget.stop.stall: unknown rule; allowed: target, plateau"),
        ([1], "budget.stop must be a mapping with target and/or plateau"),
    ],
)  # fmt: skip
def test_bad_stop_rules_fail_validation_with_one_error_naming_the_field(stop, words):
    with pytest.raises(SpecError) as err:
        parse_sweep({**BASE, "budget": {"steps": 5, "stop": stop}})
    assert err.value.problems == [p for p in err.value.problems if words in p]  # exactly one, this one
    assert len(err.value.problems) == 1


def test_a_stratified_metric_counts_as_logged_whatever_strata_the_check_saw():
    stop = {"target": {"metric": "exact_dec_7", "value": 0.5}}
    cells = parse_sweep({**BASE, "budget": {"steps": 5, "stop": stop}}).cells
    assert cells[0].stop["target"]["metric"] == "exact_dec_7"
