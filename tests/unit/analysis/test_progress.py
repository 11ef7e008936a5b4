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


def run_rows(run: str, model: str, measure_mid: float, acc_mid: float | None, seed: int = 0,
             metric: str = "wall_probe_best", steps=STEPS) -> list[dict]:  # fmt: skip
    """A maze run: the measure rises from chance (0.5) to 0.95 around ``measure_mid``, exact
    accuracy from 0 to 0.9 around ``acc_mid`` (flat at 0.02 when None)."""
    probe = sigmoid_in_log_step(measure_mid, 0.5, 0.95)
    exact = sigmoid_in_log_step(acc_mid, 0.0, 0.9) if acc_mid else np.full(len(STEPS), 0.02)
    common = {"run_hash": run, "task": "maze", "model": model, "task_size": 4, "seed": seed}
    rows = [{**common, "step": s, "split": "probe", "metric": metric, "value": v}
            for s, v in zip(steps, probe)]  # fmt: skip
    rows += [{**common, "step": s, "split": "eval", "metric": "exact", "value": v}
             for s, v in zip(steps, exact)]  # fmt: skip
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
    assert list(table.index) == ["a", "b", "c", "d"]  # model, size, seed order (L1-D8 < L2-D16 < L2-D32)
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


def washed_out(run: str, seed: int) -> list[dict]:
    """A wall probe at its best untrained (0.76 at step 0), washed out to chance, then recovering to
    0.7 after accuracy rose: its half-rise step comes late, from the recovery."""
    steps = np.concatenate([[0], STEPS])
    value = np.concatenate([[0.76], 0.5 + 0.2 / (1 + np.exp(-8 * (np.log10(STEPS) - np.log10(3000))))])
    common = {"run_hash": run, "task": "maze", "model": "L1-D8", "task_size": 4, "seed": seed}
    return [{**common, "step": s, "split": "probe", "metric": "wall_probe_best", "value": v}
            for s, v in zip(steps, value)]  # fmt: skip


def test_a_measure_at_its_best_untrained_is_flagged_and_every_other_gets_a_lead_with_an_interval(tmp_path):
    steps = np.concatenate([[0], STEPS[1:]])  # an evaluation at step 0 gives each measure its baseline
    rows = []
    for seed in range(5):
        run = f"r{seed}"
        rows += washed_out(run, seed) + run_rows(run, "L1-D8", 100, 1000, seed, "adj_attn_max", steps)
    section = progress_section(pd.DataFrame(rows), tmp_path)
    wall, adj = section["measures"]["wall_probe_best"], section["measures"]["adj_attn_max"]
    assert wall["baseline"]["starts_at_best"] and not wall["used"]
    assert wall["baseline"]["median_at_init"] == pytest.approx(0.76)
    assert (
        "at its best at initialisation" in wall["summary"]["reason"] and "n_with_lead" not in wall["summary"]
    )
    assert adj["used"] and adj["summary"]["n_with_lead"] == 5
    assert adj["summary"]["median_log10_lead"] == pytest.approx(1.0, abs=0.12)
    assert (
        adj["summary"]["ci95"][0] - 0.12 <= 1.0 <= adj["summary"]["ci95"][1] + 0.12
    )  # one interval: resolution
    assert not adj["control"]["available"] and "shuffled labels" in adj["control"]["note"]
    assert section["resolution_log10"] == pytest.approx(np.median(np.diff(np.log10(steps[1:]))))
    page = progress_html(section, tmp_path)
    assert "not used for lead times" in page and "log10 lead: adj_attn_max" in page
    assert "log10 lead: wall_probe_best" not in page
    control = [
        {**r, "metric": "adj_attn_max_control", "value": 0.5} for r in rows if r["metric"] == "adj_attn_max"
    ]
    selective = progress_section(pd.DataFrame(rows + control), tmp_path)["measures"]["adj_attn_max"][
        "control"
    ]
    assert selective["available"] and selective["median_final_selectivity"] == pytest.approx(0.45, abs=0.01)
