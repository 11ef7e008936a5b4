"""The report's questions on synthetic sweeps with known truth (no training): the metric-artefact
null, the phase boundary N*(n), and sweeps too small to answer them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.artefact import artefact_by_size
from analysis.boundary import boundary_law
from analysis.records import eval_wide, final_eval, read_store
from analysis.report import build_report
from tests.unit.analysis.synthetic import curves_table, failed_run, make_runs, write_store


def _points(wide):
    return wide[wide["step"] > 0]


def test_artefact_only_data_is_called_artefact_with_at_most_one_false_positive_in_20_sweeps():
    # 12 resamples, not 20: the same verdicts on these 20 sweeps (49 artefact, 11 undetermined, no
    # other), 40% less fitting; with `curves_table` built in one frame, 3.5 s of CPU instead of 8.
    flagged, verdicts = [], []
    for seed in range(20):
        tests = artefact_by_size(_points(eval_wide(curves_table(make_runs(seed)))), n_boot=12)
        assert set(tests) == {"2", "3", "4"}
        verdicts += [t["loss"]["verdict"] for t in tests.values()]
        flagged += [seed] if any(t["loss"]["verdict"] == "beyond artefact" for t in tests.values()) else []
        assert all(t["loss"]["null_exponent_a"] == pytest.approx(1, abs=0.1) for t in tests.values())
    assert len(flagged) <= 1, flagged
    assert "below null" not in verdicts and verdicts.count("artefact") >= 0.8 * len(verdicts), verdicts


def test_a_genuine_jump_on_top_is_beyond_artefact_and_sized(tmp_path):
    store = write_store(tmp_path, make_runs(1, jump={3: (0.5, 0.15, 0.03)}))
    _, curves = read_store(store, "syn")
    tests = artefact_by_size(_points(eval_wide(curves)), n_boot=30)
    assert tests["3"]["loss"]["verdict"] == "beyond artefact"
    assert {tests["2"]["loss"]["verdict"], tests["4"]["loss"]["verdict"]} <= {"artefact", "undetermined"}
    excess = tests["3"]["loss"]["excess"]
    assert excess["max"] > 0.1 and excess["max_ci"][0] > 0.05
    assert excess["loss_threshold"] == pytest.approx(0.15, abs=0.05)


def test_boundary_law_recovers_gamma_and_reports_sizes_beyond_the_grid_as_bounds():
    grid = (3e2, 1e3, 2e3, 4e3, 8e3, 1.6e4, 3.2e4)
    runs = make_runs(3, sizes=(2, 3, 4, 5, 6), params=grid, n0=100, gamma=2.0)  # N*(n) = 100 n^2
    law = boundary_law(final_eval(curves_table(runs)), n_boot=100)
    assert law["law"]["gamma"] == pytest.approx(2.0, rel=0.1)
    lo, hi = law["law"]["gamma_ci"]
    assert lo < 2.0 < hi
    star = law["sizes"]["4"]["star_50"]
    assert star["status"] == "inside" and star["value"] == pytest.approx(1600, rel=0.25)
    runs = make_runs(3, sizes=(2, 8), params=(1e3, 2e3, 4e3))  # N*(8) = 25,600: beyond the grid
    small = boundary_law(final_eval(curves_table(runs)), n_boot=20)
    assert small["sizes"]["8"]["star_50"] == {"status": "above grid", "bound": "> 4000", "lower_bound": 4e3}
    assert small["law"]["form"] is None and "a law needs 2" in small["law"]["reason"]


@pytest.mark.parametrize(
    "case",
    [
        {"sizes": (3,), "params": (1e3, 1e4)},  # one problem size
        {"sizes": (2, 3), "params": (3e3,)},  # one model size
        "all failed",
    ],
)
def test_degenerate_sweeps_get_a_report_that_says_what_could_not_be_fitted(tmp_path, case):
    runs = [failed_run(3, 1000), failed_run(4, 1000)] if case == "all failed" else make_runs(0, **case)
    write_store(tmp_path / "store", runs)
    fits = build_report(tmp_path / "store", "syn", tmp_path / "report", n_boot=5)
    page = (tmp_path / "report" / "index.html").read_text()
    assert json.loads((tmp_path / "report" / "fits.json").read_text())["findings"] == fits["findings"]
    assert 'id="summary"' in page and page.count("<figure>") == page.count("</figure>")
    missing = fits["not_fitted"]
    if case == "all failed":
        assert "no evaluation points" in missing["everything"] and "'failed': 2" in missing["everything"]
        assert "Nothing could be fitted" in fits["findings"][0]
    elif len(case["sizes"]) == 1:
        assert "1 size(s)" in missing["params boundary law"] and "group(s) 3." in fits["findings"][0]
    else:
        assert "1 model size(s); a law needs 3" in missing["loss vs params (size 2)"]
        assert all(e["star_50"]["status"] != "inside" for e in fits["boundary"]["params"]["sizes"].values())
        boundary = next(f for f in fits["findings"] if f.startswith("How many parameters"))
        assert (
            "(size 2: one model size: a crossing needs two to lie between)" in boundary
        )  # not only in the table
    assert np.isfinite(fits["n_runs"])
