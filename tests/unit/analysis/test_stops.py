"""Stop rules in the report: budget-limited cells marked wherever a boundary is drawn, and the least
compute to a target accuracy per size, on planted stop reasons and planted curves."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis.page_tables import budget_sentence
from analysis.report import build_report
from analysis.stops import compute_to_target, stop_summary, with_stop_reasons
from tests.unit.analysis.synthetic import make_runs, write_store

STEPS = [0, 10, 20, 40, 80]


def run_curve(run_hash: str, values: list[float], flops_per_step: float) -> pd.DataFrame:
    return pd.DataFrame({"run_hash": run_hash, "split": "eval", "metric": "exact", "step": STEPS,
                         "value": values, "tokens": [100 * s for s in STEPS],
                         "flops": [flops_per_step * s for s in STEPS]})  # fmt: skip


def test_the_least_compute_is_the_cheapest_models_median_and_names_smaller_models_cut_off_by_budget():
    # Model S (1 FLOP a step): both seeds reach 0.5 at step 20 (20 FLOPs), never 0.9, and ended on
    # budget; M (10 a step): seeds reach 0.9 at steps 20 and 40 (median of 200 and 400 FLOPs: 300);
    # L (100 a step): 0.9 at step 10 in both seeds (1,000 FLOPs).
    curves = pd.concat([
        run_curve("s0", [0, 0.3, 0.6, 0.7, 0.8], 1), run_curve("s1", [0, 0.2, 0.5, 0.7, 0.85], 1),
        run_curve("m0", [0, 0.5, 0.9, 0.95, 1.0], 10), run_curve("m1", [0, 0.4, 0.6, 0.92, 1.0], 10),
        run_curve("l0", [0, 0.95, 1.0, 1.0, 1.0], 100), run_curve("l1", [0, 0.91, 1.0, 1.0, 1.0], 100),
    ])  # fmt: skip
    final = pd.DataFrame({"run_hash": ["s0", "s1", "m0", "m1", "l0", "l1"], "group": "3",
                          "params_nonembed": [1, 1, 10, 10, 100, 100], "model": list("SSMMLL"),
                          "stop_reason": ["budget"] * 2 + ["target"] * 4})  # fmt: skip
    cost = compute_to_target(curves, final)["3"]
    assert cost["50"]["model"] == "S" and cost["50"]["flops"] == pytest.approx(20)
    assert cost["50"]["seeds_reached"] == "2/2" and cost["50"]["smaller_budget_limited"] == []
    assert cost["90"]["model"] == "M" and cost["90"]["flops"] == pytest.approx(300)
    assert cost["90"]["smaller_budget_limited"] == [1] and cost["90"]["models_reaching"] == 2
    small = final["model"] == "S"  # one seed of two reaches 0.85: the median is never
    never = compute_to_target(curves[curves["run_hash"].str.startswith("s")], final[small], targets=(0.85,))[
        "3"
    ]["85"]
    assert not never["reached"] and "budget-limited at 1 parameters" in never["reason"]


def test_budget_limited_cells_are_marked_on_every_boundary_the_report_draws(tmp_path, monkeypatch):
    # The figures are built (hatching included) but not rasterised: that took half the time.
    monkeypatch.setattr(Figure, "savefig", lambda self, fname, *a, **k: Path(fname).write_bytes(b""))
    # N*(n) = 400 n^2: 1,600 (size 2), 3,600 (size 3), 6,400 (size 4), on a grid of 1e3, 3e3, 1e4, 3e4
    runs = make_runs(0, seeds=(0, 1, 2))
    planted = {(2, 30000): "budget", (3, 1000): "budget", (3, 3000): "budget"}
    for row, _ in runs:
        row["stop_reason"] = planted.get((row["task_size"], row["params_nonembed"]), "target")
    store = write_store(tmp_path / "store", runs)
    fits = build_report(store, "syn", tmp_path / "report", n_boot=5)
    assert fits["stops"]["budget_limited"] == {"2": [30000], "3": [1000, 3000]}
    assert fits["stops"]["stop_reasons"] == {"budget": 9, "target": 27}
    sizes = fits["boundary"]["params"]["sizes"]
    assert sizes["3"]["star_50"]["bracket"] == [3000, 10000] and sizes["3"]["star_50"]["budget_limited"]
    assert sizes["2"]["budget_limited_models"] == [30000] and "budget_limited" not in sizes["2"]["star_50"]
    assert "budget_limited_models" not in sizes["4"] and "budget_limited" not in sizes["4"]["star_50"]
    assert set(fits["compute_to_target"]) == {"2", "3", "4"} and set(fits["compute_to_target"]["3"]) == {
        "50",
        "90",
    }
    page = (tmp_path / "report" / "index.html").read_text()
    assert "(budget-limited)" in page and 'id="compute-table"' in page and "isotonic" in page
    assert any("Budget-limited cells" in f and "size 3 at 1,000, 3,000" in f for f in fits["findings"])
    assert any(f.startswith("What is the least training compute") for f in fits["findings"])
    assert json.loads((tmp_path / "report" / "fits.json").read_text())["stops"] == fits["stops"]


def test_runs_without_a_stop_reason_are_unknown_not_free_of_budget():
    runs = pd.DataFrame({"run_hash": ["a", "b"], "stop_reason": [None, "plateau"]})
    final = with_stop_reasons(
        pd.DataFrame({"run_hash": ["a", "b"], "group": "3", "params_nonembed": [1, 2]}), runs
    )
    stops = stop_summary(final)
    assert stops == {
        "stop_reasons": {"plateau": 1, "unknown (no stop rules recorded)": 1},
        "budget_limited": {},
    }
    text = budget_sentence({"stops": stops})
    assert "1 ended on plateau, 1 recorded no stop reason" in text and "No cell is known" in text
