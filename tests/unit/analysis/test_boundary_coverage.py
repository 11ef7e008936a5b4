"""The phase-boundary estimator assumes no shape: its intervals cover the true N*_50 and N*_90 on
curves that are not logistic in ln N (issue 30, item 5). A larger check: benchmarks/boundary_coverage.py."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.boundary import boundary_law, crossing
from tests.unit.analysis.boundary_shapes import SHAPES, final_table, truth

DRAWS, RESAMPLES = 15, 20  # 90 intervals per shape; the benchmark runs 200 draws x 200 resamples


def coverage(shape: str) -> tuple[float, float]:
    """(share of 50% and 90% intervals that hold the truth, median |log10 error| of N*_50)."""
    covered, errors = [], []
    for draw in range(DRAWS):
        table, centres = final_table(shape, seed=draw)
        for size, runs in table.groupby("task_size"):
            model = runs["params_nonembed"]
            found = crossing(model, runs["exact"], runs["run_hash"], model, n_boot=RESAMPLES, seed=draw)
            for level in (50, 90):
                star, true = found[f"star_{level}"], truth(shape, centres[size], level / 100)
                covered.append(star["status"] == "inside" and star["ci"][0] <= true <= star["ci"][1])
                if level == 50 and star["status"] == "inside":
                    errors.append(np.log10(star["value"] / true))
    return float(np.mean(covered)), float(np.median(np.abs(errors)))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_intervals_cover_the_true_crossings_whatever_the_shape(shape):
    share, error = coverage(shape)
    assert share >= 0.9, f"{shape}: coverage {share:.2f}"
    assert error < 0.06, f"{shape}: median |log10 error| {error:.3f}"  # a logistic fit was 0.07-0.1 off


def test_the_interval_holds_the_model_sizes_either_side_and_the_growth_law_uses_it():
    table, _ = final_table("step", seed=0)
    law = boundary_law(table, n_boot=20)
    assert "isotonic" in law["estimator"]
    for entry in law["sizes"].values():
        star = entry["star_50"]
        lo, hi = star["bracket"]
        assert hi / lo == pytest.approx(2) and star["ci"][0] <= lo < star["value"] <= hi <= star["ci"][1]
    assert law["law"]["sizes_used"] == [3, 4, 5] and law["law"]["bootstrap"] > 0
    one = crossing([1e3] * 3, [0.2, 0.3, 0.1], ["a", "b", "c"], n_boot=5)
    assert one["reason"].startswith("one model size") and one["star_50"]["status"] == "above grid"
