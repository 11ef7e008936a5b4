"""The artefact test's verdicts say what was shown (issue 30): `artefact` only when the gap to the null
is shown small, `beyond artefact` when shown large, `below null` when the null over-predicts,
`undetermined` otherwise; and the null is built from per-example probabilities, so that artefact-only
data whose examples vary is not called beyond the artefact."""

from __future__ import annotations

import numpy as np

from analysis.artefact import artefact_by_size, artefact_test, verdict
from analysis.records import eval_wide
from tests.unit.analysis.synthetic import curves_table, make_runs, make_varied_runs


def _points(runs):
    wide = eval_wide(curves_table(runs))
    return wide[wide["step"] > 0]


def _test(excess, excess_ci, deficit=0.01, deficit_ci=(0.0, 0.02), p_value=1e-6):
    return {"p_value": p_value, "alpha": 0.01, "margin": 0.05,
            "excess": {"max": excess, "max_ci": list(excess_ci)},
            "deficit": {"max": deficit, "max_ci": list(deficit_ci)}}  # fmt: skip


def test_the_verdict_rule_on_intervals_around_the_margin():
    assert verdict(_test(0.05, (0.027, 0.08)))[0] == "undetermined"  # the study's 3x3: reaches the margin
    assert verdict(_test(0.03, (0.01, 0.049)))[0] == "artefact"
    assert verdict(_test(0.2, (0.06, 0.3)))[0] == "beyond artefact"
    assert verdict(_test(0.2, (0.06, 0.3), p_value=0.5))[0] == "undetermined"  # large but not significant
    assert verdict(_test(0.0, (0.0, 0.01), 0.2, (0.1, 0.3)))[0] == "below null"
    assert verdict(_test(0.2, (0.06, 0.3), 0.2, (0.1, 0.3)))[0] == "below null"  # a deficit read as excess
    no_interval = {**_test(0.2, (0, 1)), "excess": {"max": 0.2}}
    assert verdict(no_interval) == ("undetermined", "no interval on the excess (no bootstrap resamples)")


def test_planted_jump_artefact_only_and_deficit_get_their_own_verdicts():
    runs = make_runs(1, jump={3: (0.5, 0.15, 0.03)}, deficit={2: (0.6, 0.15, 0.02)})
    tests = artefact_by_size(_points(runs), n_boot=30)
    assert tests["3"]["loss"]["verdict"] == "beyond artefact"
    assert tests["4"]["loss"]["verdict"] == "artefact"
    assert tests["2"]["loss"]["verdict"] == "below null"
    assert "falls short of the null" in tests["2"]["loss"]["reason"]


def test_artefact_only_data_with_varying_examples_is_not_beyond_on_either_loss():
    points = _points(make_varied_runs(0))
    tests = artefact_by_size(points, n_boot=30)
    for size in ("3", "4"):
        decision = tests[size]["decision_loss"]
        assert decision["verdict"] == "artefact" and decision["null_source"] == "decision_prob"
        assert tests[size]["loss"]["verdict"] == "artefact" and not tests[size]["loss"]["null_biased"]
    # the geometric mean exp(-decision_loss) misfits these data: shown as such, never as "beyond"
    group = points[points["task_size"] == 4]
    biased = artefact_test(group["decision_loss"], np.exp(-group["decision_loss"]), group["exact"],
                           group["eval_examples"], group["run_hash"], n_boot=30)  # fmt: skip
    assert biased["verdict"] == "below null"
    # without the per-example quantity the decision test is refused, the per-token one marked biased
    tests = artefact_by_size(points.drop(columns=["decision_prob", "answer_prob"]), n_boot=10)
    assert tests["4"]["decision_loss"]["verdict"] == "not tested"
    assert "decision_prob" in tests["4"]["decision_loss"]["reason"]
    loss = tests["4"]["loss"]
    assert loss["null_biased"] and loss["null_source"] == "exp(answer_logprob)"
    assert loss["verdict"] != "beyond artefact"
