"""At equal parameters, depth or width (issue 29): planted deep-narrow and shallow-wide shapes whose
accuracies differ (or not) give the verdicts they must."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.equal_params import depth_or_width
from analysis.seed_intervals import welch_interval

SHAPES = {(4, 16): 12_288, (1, 32): 12_288, (8, 16): 24_576, (2, 32): 24_576, (2, 16): 6_144}


def table(exact_of: dict, seeds: int = 3, group: str = "3", stop: str = "target") -> pd.DataFrame:
    """Runs of every shape in SHAPES with seed accuracies exact_of[shape] + a small seed spread."""
    rows = []
    for (layers, width), params in SHAPES.items():
        for s in range(seeds):
            spread = 0.01 * (s - 1)
            rows.append({"group": group, "run_hash": f"{group}-{layers}-{width}-{s}",
                         "n_layers": float(layers), "d_model": float(width), "params_nonembed": params,
                         "stop_reason": stop, "exact": exact_of[(layers, width)] + spread})  # fmt: skip
    return pd.DataFrame(rows)


def verdicts(result: dict, group: str = "3") -> dict:
    return {(p["deep"], p["wide"]): p["verdict"] for p in result["groups"][group]}


def test_only_shapes_with_equal_parameters_are_paired():
    result = depth_or_width(table(dict.fromkeys(SHAPES, 0.7)))
    assert set(verdicts(result)) == {("L4-D16", "L1-D32"), ("L8-D16", "L2-D32")}  # L2-D16 has no partner


@pytest.mark.parametrize(
    ("deep", "wide", "verdict"),
    [
        (0.9, 0.3, "depth"),
        (0.3, 0.85, "width"),
        (0.6, 0.6, "neither resolved"),
        (0.96, 0.96, "both solved"),
        (0.2, 0.2, "both failed"),
        (0.99, 0.93, "depth"),  # above the ceiling, but the interval is resolved: still read
        (0.1, 0.3, "width"),  # below the floor, resolved
    ],  # fmt: skip
)
def test_the_verdict_reads_the_interval_of_the_difference(deep, wide, verdict):
    exact = {(4, 16): deep, (1, 32): wide, (8, 16): deep, (2, 32): wide, (2, 16): 0.5}
    result = depth_or_width(table(exact))
    pair = result["groups"]["3"][0]
    assert pair["verdict"] == verdict, pair
    assert pair["difference"] == pytest.approx(deep - wide, abs=1e-9)
    lo, hi = pair["ci"]
    assert lo <= deep - wide + 1e-9 and deep - wide - 1e-9 <= hi
    assert result["summary"] == {verdict: 2}


def test_a_noisy_difference_is_not_resolved_and_a_capped_run_marks_the_pair():
    rng = np.random.default_rng(0)
    frame = table(dict.fromkeys(SHAPES, 0.5), stop="budget")
    frame["exact"] = rng.uniform(0.2, 0.8, len(frame))  # seeds disagree wildly: no verdict either way
    frame.loc[frame["n_layers"].eq(4.0), "exact"] += 0.05
    pairs = depth_or_width(frame)["groups"]["3"]
    assert [p["verdict"] for p in pairs] == ["neither resolved"] * 2
    assert all(p["budget_limited"] for p in pairs)


def test_a_shape_with_a_single_run_gets_no_interval_and_no_verdict():
    frame = table({**dict.fromkeys(SHAPES, 0.3), (4, 16): 0.8, (8, 16): 0.8})
    frame = frame[~((frame["n_layers"] == 1.0) & (frame["exact"] != frame["exact"].min()))]  # L1-D32: one run
    result = depth_or_width(frame)
    one, three = result["groups"]["3"]
    assert (one["deep"], one["exact"]["wide"]) == ("L4-D16", [0.29])
    assert one["ci"] is None and one["verdict"] == "too few runs"
    assert three["verdict"] == "depth"  # L8-D16 against L2-D32: three runs each
    from analysis.page_tables import depth_section

    page = depth_section({"depth": {"groups": {}, "laws": {}, "equal_params": result}}, figure="")
    assert "+0.510</td><td>too few runs" in page


def test_the_page_shows_each_pair_and_the_sentence_counts_the_verdicts():
    from analysis.page_tables import depth_section, depth_sentence

    exact = {(4, 16): 0.9, (1, 32): 0.3, (8, 16): 0.6, (2, 32): 0.6, (2, 16): 0.5}
    fits = {"depth": {"groups": {}, "laws": {}, "equal_params": depth_or_width(table(exact))}}
    page = depth_section(fits, figure="")
    assert 'id="equal-params-table"' in page and "L4-D16 vs L1-D32" in page and "+0.600" in page
    assert "depth: 1, neither resolved: 1." in depth_sentence(fits)
    capped = {
        "depth": {"groups": {}, "laws": {}, "equal_params": depth_or_width(table(exact, stop="budget"))}
    }
    assert "neither resolved: 1 (2 of them with a run ended on its step cap)." in depth_sentence(capped)


def test_the_interval_covers_a_planted_zero_difference_at_its_nominal_rate_with_three_seeds():
    """Two shapes with the same true accuracy and 3 noisy seeds each: the 95% interval must contain
    zero in about 95% of studies (a percentile bootstrap over 3 seeds covers far less)."""
    rng = np.random.default_rng(1)
    draws = [welch_interval(rng.normal(0.7, 0.05, 3), rng.normal(0.7, 0.02, 3)) for _ in range(2000)]
    coverage = np.mean([lo <= 0.0 <= hi for lo, hi in draws])
    assert 0.93 <= coverage <= 0.97, coverage


def test_the_interval_is_welchs():
    a, b = np.array([0.92, 0.91, 0.91]), np.array([0.93, 0.92, 0.95])
    lo, hi = welch_interval(a, b)
    t = stats.ttest_ind(a, b, equal_var=False)
    assert (lo + hi) / 2 == pytest.approx(a.mean() - b.mean())
    assert (lo < 0 < hi) == (t.pvalue > 0.05)
    ci = t.confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ci.low, ci.high))
