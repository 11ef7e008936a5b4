"""Thresholds only where a transition was found, degenerate stores refused with the reason, and the
L_50 n constancy test (the metric-artefact null across sizes): at most 1 false alarm in 20 artefact-only
sweeps, and a planted capability that moves one size's threshold is found (issue 30)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.crossing import crossing_with_interval, isotonic, level_crossing
from analysis.per_size import threshold_vs_length, transitions_by_size
from analysis.records import eval_wide
from tests.unit.analysis.synthetic import answer_len, curves_table, make_runs


def _points(runs):
    wide = eval_wide(curves_table(runs))
    return wide[wide["step"] > 0]


def _crossings_only(points, n_boot=30) -> dict:
    """`transitions_by_size` without the sigmoid (what the constancy test reads), for many sweeps."""
    out = {}
    for size, group in points.groupby("task_size"):
        loss, exact, runs = group["loss"], group["exact"], group["run_hash"]
        cross = crossing_with_interval(loss, exact, runs, 0.5, increasing=False, n_boot=n_boot)
        out[str(size)] = {
            "task": "maze",
            "condition": "",
            "answer_len": answer_len(size),
            "crossing_50": cross,
        }
    return out


def test_isotonic_crossing_of_a_known_monotone_curve():
    x = np.linspace(0, 1, 21)
    y = 1 - x**3 + np.where(np.arange(21) % 2, 0.02, -0.02)  # not a logistic, with zig-zag noise
    xs, fitted = isotonic(x, y, increasing=False)
    assert np.all(np.diff(fitted) <= 0) and len(xs) == 21
    assert level_crossing(x, 1 - x**3, 0.5, increasing=False) == pytest.approx(0.5 ** (1 / 3), abs=0.01)
    assert np.isnan(level_crossing(x, np.full(21, 0.2), 0.5, increasing=False))  # never reaches 50%


def test_constancy_false_alarms_at_most_1_in_20_on_artefact_only_data_and_a_moved_threshold_is_found():
    alarms, ks = 0, []
    for seed in range(20):
        law = threshold_vs_length(_crossings_only(_points(make_runs(seed))))
        alarms += law["verdict"] == "not constant"
        ks.append(law["power_law"]["k"])
    assert alarms <= 1 and np.median(ks) == pytest.approx(1.0, abs=0.1)  # the null's L_50 ~ 1/n
    moved = threshold_vs_length(_crossings_only(_points(make_runs(0, jump={4: (0.9, 0.3, 0.01)}))))
    assert moved["verdict"] == "not constant", moved


def test_no_threshold_without_a_transition_and_a_flat_store_is_refused():
    runs = make_runs(0, sizes=(3,), params=(1e3, 3e3, 1e4))
    for _, curves in runs:
        for row in curves:
            row["value"] = 0.0 if row["metric"] == "exact" else row["value"]
    entry = transitions_by_size(_points(runs), n_boot=5)["3"]
    assert (
        "no transition to locate" in entry["transition"]["error"] and "threshold" not in entry["transition"]
    )
    smooth = transitions_by_size(_points(make_runs(0, sizes=(4,))), n_boot=5)["4"]["transition"]
    assert (
        smooth["transition"] is False
        and "threshold" not in smooth
        and "no sharp transition" in smooth["reason"]
    )
    sharp = transitions_by_size(_points(make_runs(1, sizes=(3,), jump={3: (0.9, 0.15, 0.005)})), n_boot=5)
    assert sharp["3"]["transition"]["transition"] and len(sharp["3"]["transition"]["threshold_ci"]) == 2
