"""Lead times of progress measures over accuracy, on synthetic curves with known half-rise steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.progress import (
    half_rise_step,
    lead_times,
    progress_html,
    progress_section,
    summarise,
)

STEPS = np.unique(np.round(np.geomspace(1, 10_000, 40))).astype(int)


def sigmoid_in_log_step(mid: float, lo: float, hi: float) -> np.ndarray:
    return lo + (hi - lo) / (1 + np.exp(-8 * (np.log10(STEPS) - np.log10(mid))))


def run_rows(run: str, model: str, measure_mid: float, acc_mid: float | None) -> list[dict]:
    """A maze run: the wall probe rises from chance (0.5) to 0.95 around ``measure_mid``, exact
    accuracy from 0 to 0.9 around ``acc_mid`` (flat at 0.02 when None)."""
    probe = sigmoid_in_log_step(measure_mid, 0.5, 0.95)
    exact = sigmoid_in_log_step(acc_mid, 0.0, 0.9) if acc_mid else np.full(len(STEPS), 0.02)
    common = {"run_hash": run, "task": "maze", "model": model, "task_size": 4, "seed": 0}
    rows = [{**common, "step": s, "split": "probe", "metric": "wall_probe_best", "value": v}
            for s, v in zip(STEPS, probe)]  # fmt: skip
    rows += [{**common, "step": s, "split": "eval", "metric": "exact", "value": v}
             for s, v in zip(STEPS, exact)]  # fmt: skip
    return rows


def test_half_rise_step_counts_from_where_the_rise_starts():
    steps = [0, 10, 100, 1000]
    assert half_rise_step(steps, [0.5, 0.55, 0.8, 1.0]) == 100  # from chance 0.5 to 1: half is 0.75
    assert half_rise_step(steps, [0.0, 0.1, 0.6, 1.0]) == 100
    assert np.isnan(half_rise_step(steps, [0.5, 0.5, 0.51, 0.51]))  # no rise
    assert np.isnan(half_rise_step(steps, [0.9, 0.6, 0.5, 0.4]))  # a fall is not a rise
    assert half_rise_step([0, 10, 100, 1000, 2000], [0.77, 0.5, 0.55, 0.6, 0.7]) == 1000  # from the dip


def test_lead_times_of_synthetic_runs_with_known_leads():
    curves = pd.DataFrame(
        run_rows("a", "L1-D8", 100, 1000)  # measure 10x earlier: lead +1
        + run_rows("b", "L2-D16", 30, 3000)  # 100x earlier: +2
        + run_rows("c", "L2-D32", 1000, 1000)  # together: 0
        + run_rows("d", "L2-D32", 100, None)  # accuracy never jumps: no lead
    )
    table = lead_times(curves).set_index("run_hash")
    assert table.loc["a", "log10_lead"] == pytest.approx(1.0, abs=0.12)  # the grid of steps is discrete
    assert table.loc["b", "log10_lead"] == pytest.approx(2.0, abs=0.12)
    assert table.loc["c", "log10_lead"] == pytest.approx(0.0, abs=0.12)
    assert not table.loc["d", "jumps"] and np.isnan(table.loc["d", "log10_lead"])
    summary = summarise(table.reset_index())
    assert summary["n_runs"] == 4 and summary["n_with_lead"] == 3
    assert summary["median_log10_lead"] == pytest.approx(1.0, abs=0.12)
    assert summary["ci95"][0] <= summary["median_log10_lead"] <= summary["ci95"][1]
    assert summary["share_measure_first"] == pytest.approx(2 / 3)


def test_progress_section_draws_the_panel_and_the_table(tmp_path):
    curves = pd.DataFrame(run_rows("a", "L1-D8", 100, 1000) + run_rows("d", "L2-D32", 100, None))
    section = progress_section(curves, tmp_path)
    assert section["panel_runs"] == ["a", "d"] and (tmp_path / "progress_panel.png").stat().st_size > 5_000
    page = progress_html(section, tmp_path)
    assert 'id="lead-times"' in page and page.count("<tr>") == 3 and "+1.0" in page
    empty = progress_section(curves[curves["split"] == "eval"], tmp_path / "none")  # no probe curves
    assert empty["lead_times"] == [] and "no lead time" in progress_html(empty, tmp_path / "none")
