"""Final exact accuracy by detour and by decision count, on planted stratum curves."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.figures import exact_by_stratum
from analysis.groups import add_groups
from analysis.page_tables import stratum_rows, stratum_sentence
from analysis.records import final_eval
from analysis.strata import by_stratum
from tests.unit.analysis.synthetic import curves_table, make_runs


def planted(params: float, seed: int, kind: str, k: int) -> float:
    """Exact accuracy of a stratum: falls with the detour (decisions), less for larger models; the
    seeds differ by 0.02."""
    slope = 0.1 if kind == "detour" else 0.2
    return max(0.0, 1 - slope * k * 1e4 / params) - 0.02 * seed


def with_strata(curves: pd.DataFrame) -> pd.DataFrame:
    """Curves plus exact_detour_<d> (d = 0, 2, 4) and exact_dec_<k> (k = 0..2) at size 3 only, the
    same value at every step (the final one is what is read)."""
    rows = curves[(curves["metric"] == "exact") & (curves["task_size"] == 3)]
    extra = []
    for kind, prefix, ks in (("detour", "exact_detour_", (0, 2, 4)), ("decisions", "exact_dec_", (0, 1, 2))):
        for k in ks:
            values = [planted(p, s, kind, k) for p, s in zip(rows["params_nonembed"], rows["seed"])]
            extra.append(rows.assign(metric=f"{prefix}{k}", value=values))
    return pd.concat([curves, *extra], ignore_index=True)


def test_final_exact_by_detour_and_decisions_is_read_per_size_and_model(tmp_path):
    curves = with_strata(curves_table(make_runs(0, sizes=(2, 3), params=(1e4, 3e4), seeds=(0, 1))))
    final = add_groups(final_eval(curves))
    strata = by_stratum(final)
    assert set(strata) == {"3"} and set(strata["3"]) == {"detour", "decisions"}  # size 2 logged none
    detour = strata["3"]["detour"]
    assert detour["strata"] == [0, 2, 4] and detour["largest"] == "30000"
    big = detour["models"]["30000"]
    assert big["mean"]["4"] == pytest.approx(1 - 0.4 / 3 - 0.01)  # seed mean of seeds 0 and 1
    assert big["seeds"]["4"] == pytest.approx([1 - 0.4 / 3, 1 - 0.4 / 3 - 0.02])
    assert strata["3"]["decisions"]["models"]["10000"]["mean"]["2"] == pytest.approx(0.6 - 0.01)
    fits = {"by_stratum": strata}
    assert "size 3 by detour (N30000): 0: 0.99, 2: 0.92, 4: 0.86" in stratum_sentence(fits)
    assert stratum_rows(fits).count("<tr>") == 4 and "N30000 (largest)" in stratum_rows(fits)
    assert "no exact_detour" in stratum_rows({"by_stratum": {}}) and stratum_sentence({}) == ""
    exact_by_stratum(strata, tmp_path / "strata.png")
    assert (tmp_path / "strata.png").stat().st_size > 1000
