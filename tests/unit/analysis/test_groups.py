"""Runs that differ in their data are never pooled (groups keyed by task, data condition and size; no
law across tasks), and degenerate fits are flagged and listed under what could not be fitted (issue 30)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.degenerate import why_degenerate
from analysis.groups import add_groups, condition
from analysis.report import build_report
from tests.unit.analysis.synthetic import make_runs, write_store


def _retag(runs, prefix: str, task: str | None = None, options: dict | None = None):
    """The same synthetic runs as another experiment: another task or other task options."""
    out = []
    for row, curves in runs:
        spec = {**json.loads(row["spec_json"]), "task_options": options or {}}
        row = {**row, "run_hash": prefix + row["run_hash"], "spec_json": json.dumps(spec)}
        out.append(({**row, "task": task or row["task"]}, curves))
    return out


def test_a_condition_names_what_changes_the_data():
    assert condition({"task_options": {}, "init_from": {}}) == ""
    spec = {"task_options": {"generator": "wilson"}, "init_from": {"run": "ab" * 8, "step": None}}
    assert condition(spec) == "generator=wilson, transfer"
    frame = pd.DataFrame(
        {"task": ["maze"] * 3, "condition": ["", "generator=wilson", ""], "task_size": [2, 2, 3]}
    )
    assert add_groups(frame)["group"].tolist() == ["default/2", "generator=wilson/2", "default/3"]  # one task
    one = add_groups(frame.assign(condition=""))
    assert one["group"].tolist() == ["2", "2", "3"] and set(one["family"]) == {""}


def test_two_tasks_and_two_generators_are_never_pooled_and_no_law_crosses_tasks(tmp_path, monkeypatch):
    monkeypatch.setattr(
        Figure, "savefig", lambda self, fname, *a, **k: Path(fname).write_bytes(b"")
    )  # numbers only
    base = make_runs(3, sizes=(2, 3), params=(3e2, 1e3, 4e3, 1.6e4), n0=100)
    wilson = _retag(
        make_runs(4, sizes=(2,), params=(3e2, 1e3, 4e3), n0=100), "w", options={"generator": "wilson"}
    )
    other = _retag(
        make_runs(5, sizes=(2, 3), params=(3e2, 1e3, 4e3, 1.6e4), n0=100), "g", task="graph_search"
    )
    write_store(tmp_path / "store", base + wilson + other)
    fits = build_report(tmp_path / "store", "syn", tmp_path / "report", n_boot=5)
    keys = {"maze default/2", "maze default/3", "maze generator=wilson/2", "graph_search default/2",
            "graph_search default/3"}  # fmt: skip
    assert set(fits["per_size"]) == set(fits["artefact"]) == set(fits["groups"]) == keys
    assert fits["per_size"]["maze generator=wilson/2"]["runs"] == sorted(r[0]["run_hash"] for r in wilson)
    assert set(fits["boundary"]) == {
        f"{s} ({f})"
        for s in ("params", "compute")
        for f in ("maze default", "maze generator=wilson", "graph_search default")
    }
    for result in fits["boundary"].values():  # each law's runs come from one family
        runs = {r for entry in result["sizes"].values() for r in entry["runs"]}
        assert len({r[0] for r in runs}) == 1
    assert fits["threshold_vs_length"]["verdict"] == "undetermined"  # L_50 n is not compared across tasks
    assert json.loads((tmp_path / "report" / "fits.json").read_text())["store"] == "../store"


def test_degenerate_fits_are_flagged():
    x = np.array([1e3, 3e3, 1e4])
    good = {"form": "power", "params": {"A": 10.0, "alpha": 0.5}, "ci": {"A": [8, 12], "alpha": [0.4, 0.6]}}
    assert why_degenerate(good, x, 10 * x**-0.5, intervals_expected=True) is None
    wide = {**good, "ci": {"A": [5.7e6, 6.3e19], "alpha": [0.4, 0.6]}}
    assert "orders of magnitude" in why_degenerate(wide, x, 10 * x**-0.5, intervals_expected=True)
    assert "no finite interval" in why_degenerate(
        {**good, "ci": {}}, x, 10 * x**-0.5, intervals_expected=True
    )
    assert "misses its data" in why_degenerate(good, x, 1000 * x**-0.5, intervals_expected=False)
