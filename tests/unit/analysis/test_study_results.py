"""The committed study (`sweeps/results/maze_cpu`, issue 20) rebuilds from its committed export.

`search-scaling report maze_cpu --store sweeps/results/maze_cpu/store --out sweeps/results/maze_cpu/report
--no-mlflow` redoes all of it (figures and 200 bootstrap resamples: about a minute). This test redoes
every fit without drawing and with 5 resamples (7 s), and checks every number of the committed
fits.json that does not depend on the resamples (intervals, and what is read off them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from analysis.report import build_report

RESULTS = Path(__file__).resolve().parents[3] / "sweeps" / "results" / "maze_cpu"
RESAMPLED = {"bootstrap", "lower_bound_gamma", "findings", "store"}  # plus every key ending in "ci"


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


def test_the_committed_study_rebuilds_into_its_fits(tmp_path, monkeypatch):
    committed = json.loads((RESULTS / "report" / "fits.json").read_text())
    monkeypatch.setattr(Figure, "savefig", lambda self, fname, *a, **k: Path(fname).write_bytes(b""))
    rebuilt = json.loads(json.dumps(build_report(str(RESULTS / "store"), "maze_cpu", tmp_path, n_boot=5),
                                    default=str))  # fmt: skip
    want = {p: v for p, v in leaves(committed) if not resampled(p)}
    got = {p: v for p, v in leaves(rebuilt) if not resampled(p)}
    assert sorted(map(str, got)) == sorted(map(str, want))
    assert committed["n_runs"] == 84 and len(want) > 1000
    for path, value in want.items():
        if isinstance(value, float):
            assert got[path] == pytest.approx(value, rel=1e-5, abs=1e-9), path
        else:
            assert got[path] == value, path
