"""The report by depth (issue 29): the smallest depth reaching 50% / 90% exact per size and width,
and the layers-needed law chosen by AICc, on planted truths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.special import expit

from analysis.depth import depth_needed, varies_depth, with_shape
from analysis.groups import add_groups
from analysis.page_tables import depth_section, depth_sentence
from analysis.report import build_report
from tests.unit.analysis.synthetic import make_runs, write_store

DEPTHS = (1, 2, 3, 4, 5, 6, 8)
SIZES = (4, 6, 8, 11)
LAWS = {  # L*_50(n, width): the depth at which exact accuracy crosses 50%
    "log": lambda n, width: -2 + 3 * np.log(n) - (0.5 if width == 64 else 0),
    "power": lambda n, width: 0.41 * n * (0.75 if width == 64 else 1),  # no truth within noise of a depth
}


def expected(law: str, n: int, width: int, layers) -> float:
    """Expected exact accuracy: a logistic in log10 depth of width 0.1 about L*_50."""
    return float(expit((np.log10(layers) - np.log10(LAWS[law](n, width))) / 0.1))


def depth_table(law: str, seed: int = 0) -> pd.DataFrame:
    """Final exact accuracy of runs over depth x width x size: 3 seeds, 256 held-out examples."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in SIZES:
        for width in (32, 64):
            for layers in DEPTHS:
                for s in range(3):
                    exact = rng.binomial(256, expected(law, n, width, layers)) / 256
                    rows.append({"task": "maze", "task_size": n, "model": f"L{layers}-D{width}", "seed": s,
                                 "run_hash": f"{n}-{layers}-{width}-{s}", "exact": exact,
                                 "params_nonembed": layers * width**2})  # fmt: skip
    return add_groups(with_shape(pd.DataFrame(rows)))


def smallest_true_depth(law: str, n: int, width: int, level: float) -> tuple[int | None, bool]:
    """(the first depth of the grid whose expected accuracy reaches ``level``, whether every depth's
    expectation is clear of the level by 0.05: else noise may pick the neighbour, within the range)."""
    values = [expected(law, n, width, layers) for layers in DEPTHS]
    first = next((d for d, v in zip(DEPTHS, values) if v >= level), None)
    return first, all(abs(v - level) > 0.05 for v in values)


def assert_depth(found: dict, truth: int | None, clear: bool) -> None:
    """The smallest depth found is the truth where every depth's expectation is clear of the level;
    else the truth or its neighbour on the grid (3 seeds that agree leave no spread to resample)."""
    if clear:
        assert found["depth"] == truth, (found, truth)
        return
    grid = [*DEPTHS, None]  # None: beyond the grid
    assert abs(grid.index(found["depth"]) - grid.index(truth)) <= 1, (found, truth)


@pytest.mark.parametrize("law", sorted(LAWS))
def test_smallest_depths_and_the_layers_needed_law_are_recovered(law):
    depth = depth_needed(depth_table(law), n_boot=40)
    for n in SIZES:
        for width in (32, 64):
            entry = depth["groups"][str(n)][str(width)]
            for level in ("50", "90"):
                found = entry[f"smallest_{level}"]
                truth, clear = smallest_true_depth(law, n, width, int(level) / 100)
                assert_depth(found, truth, clear)
            lo, hi = entry["star_50"]["ci"]
            assert lo <= LAWS[law](n, width) <= hi
    for width in ("32", "64"):
        fitted = depth["laws"]["all"][width]
        assert fitted["form"] == law and fitted["sizes_used"] == list(SIZES) and fitted["criterion"] == "AICc"
        slope = "b" if law == "log" else "k"
        lo, hi = fitted[f"{slope}_ci"]
        assert lo < (3.0 if law == "log" else 1.0) < hi
    fits = {"depth": depth, "groups": {}, "boundary": {}}
    assert f"{law} (L*_50 = " in depth_sentence(fits) and 'id="depth-table"' in depth_section(fits, "")


def test_shapes_come_from_the_runs_table_else_from_the_name_and_width_only_sweeps_have_no_depth_question():
    final = pd.DataFrame({"run_hash": ["a", "b", "c"], "model": ["L2-D32", "N1000", "L3-D16"], "group": "3"})
    runs = pd.DataFrame(
        {"run_hash": ["a", "b", "c"], "n_layers": [4, None, None], "d_model": [64, None, None]}
    )
    shaped = with_shape(final, runs)
    assert shaped[["n_layers", "d_model"]].to_numpy().tolist()[::2] == [[4, 64], [3, 16]]
    assert shaped[["n_layers", "d_model"]].iloc[1].isna().all()  # neither the table nor the name says
    widths = pd.DataFrame({"group": "3", "n_layers": [2, 2], "d_model": [16, 32]})
    assert not varies_depth(widths) and varies_depth(widths.assign(d_model=16, n_layers=[1, 2]))
    table = depth_table("log")
    extra = table[(table["d_model"] == 32) & (table["n_layers"] == 3)].assign(
        d_model=16.0, run_hash=lambda t: t.run_hash + "w"
    )
    depth = depth_needed(pd.concat([table, extra]), n_boot=5)  # width 16 was run at depth 3 only
    assert depth["widths_with_one_depth"] == {str(n): [16] for n in SIZES}
    assert all(set(widths) == {"32", "64"} for widths in depth["groups"].values())


def test_the_report_has_a_depth_section_with_budget_limited_depths_marked(tmp_path, monkeypatch):
    monkeypatch.setattr(Figure, "savefig", lambda self, fname, *a, **k: Path(fname).write_bytes(b""))
    # N*(n) = 400 n^2 on the parameter grid; each model size renamed to a depth at width 32, so the
    # depth crossings are the parameter crossings: size 2 (1,600) between depths 1 and 2, size 3
    # (3,600) between 2 and 4, size 4 (6,400) between 2 and 4.
    depth_of = {1000: 1, 3000: 2, 10000: 4, 30000: 8}
    runs = make_runs(0, seeds=(0, 1))
    for row, _ in runs:
        layers = depth_of[row["params_nonembed"]]
        row.update(model=f"L{layers}-D32", n_layers=layers, d_model=32)
        row["stop_reason"] = "budget" if (row["task_size"], layers) == (3, 2) else "plateau"
    fits = build_report(write_store(tmp_path / "store", runs), "syn", tmp_path / "report", n_boot=5)
    groups = fits["depth"]["groups"]
    assert [groups[s]["32"]["smallest_50"]["depth"] for s in ("2", "3", "4")] == [2, 4, 4]
    assert (
        groups["3"]["32"]["budget_limited_depths"] == [2]
        and groups["3"]["32"]["smallest_50"]["budget_limited"]
    )
    assert "budget_limited" not in groups["4"]["32"]["smallest_50"]
    law = fits["depth"]["laws"]["all"]["32"]
    assert law["sizes_used"] == [2, 3, 4] and law["criterion"].startswith("AIC (3 sizes")
    page = (tmp_path / "report" / "index.html").read_text()
    assert 'id="depth-table"' in page and "depth_width.png" in page
    assert any(f.startswith("How many layers") for f in fits["findings"])
