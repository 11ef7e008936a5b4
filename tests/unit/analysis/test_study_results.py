"""The committed studies (`sweeps/results/maze_cpu`, issue 20; `sweeps/results/maze_recipe`, issue 28;
`sweeps/results/maze_depth`, issue 29; `sweeps/results/maze_goals`, issue 32) rebuild from their
committed exports.

`search-scaling report maze_cpu --store sweeps/results/maze_cpu/store --out sweeps/results/maze_cpu/report
--no-mlflow` redoes all of it (figures and 200 bootstrap resamples: a few minutes). This test redoes
every fit without drawing and with 5 resamples, and checks every number of the committed fits.json
that does not depend on the resamples (intervals, and what is read off them).

Issue 30 changed what the rebuild must match: groups (``groups``), verdicts read off intervals
(``verdict``, ``reason``: resampled), ``deficit``, ``crossing_50`` and the L_50 n constancy test
(resampled: their values come from intervals), ``degenerate``, the progress section per measure
(``measures``), findings as a list, a relative ``store`` and ``code_version_warning``. Then the boundary
without a logistic (``estimator``, ``bracket``; ``share_inside`` and the interval ends are resampled),
``stops``, ``compute_to_target``, ``by_stratum`` and ``depth``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from analysis.report import _strict, build_report

RESULTS = Path(__file__).resolve().parents[3] / "sweeps" / "results"
# committed study -> its number of runs
STUDIES = {"maze_cpu": 84, "maze_recipe": 3, "maze_depth": 90, "maze_goals": 72}
# Read off the resamples (plus every key ending in "ci"): verdicts from intervals, the constancy test
# from bootstrap standard errors, degenerate flags from interval widths, the not-fitted reasons (and
# the store, a path relative to where the report was written).
RESAMPLED = {"bootstrap", "lower_bound_gamma", "findings", "store", "verdict", "reason", "se", "L50n_se", "Q",
             "p_value", "weighted_mean", "share_crossing", "degenerate", "not_fitted", "threshold_vs_length",
             "ci95", "share_inside"}  # fmt: skip


def leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, (*path, i))
    else:
        yield path, value


def resampled(path) -> bool:
    return any(isinstance(k, str) and (k in RESAMPLED or k.endswith("ci")) for k in path)


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_the_committed_study_rebuilds_into_its_fits(study, tmp_path, monkeypatch):
    committed = json.loads((RESULTS / study / "report" / "fits.json").read_text())
    monkeypatch.setattr(Figure, "savefig", lambda self, fname, *a, **k: Path(fname).write_bytes(b""))
    fits = build_report(str(RESULTS / study / "store"), study, tmp_path, n_boot=5)
    rebuilt = json.loads(json.dumps(_strict(fits), default=str))  # NaN as null, as fits.json stores it
    want = {p: v for p, v in leaves(committed) if not resampled(p)}
    got = {p: v for p, v in leaves(rebuilt) if not resampled(p)}
    assert sorted(map(str, got)) == sorted(map(str, want))
    assert committed["n_runs"] == STUDIES[study] and len(want) > 100
    for path, value in want.items():
        if isinstance(value, float):
            assert got[path] == pytest.approx(value, rel=1e-5, abs=1e-9), path
        else:
            assert got[path] == value, path
