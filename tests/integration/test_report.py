"""sweep -> store -> report on a two-cell grid, the report's numbers traced back to the runs, and the
page rendered by a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "search_scaling.cli"]
SPEC = {
    "name": "two",
    "tasks": [{"task": "maze", "sizes": [3]}],
    "models": ["L1-D8", "L2-D16"],
    "training": {"eval_points": 12, "eval_examples": 64, "lr": 1e-2},
    "budget": {"steps": 120},
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "two.yaml").write_text(yaml.safe_dump(SPEC))
    store = tmp / "store"
    swept = subprocess.run([*CLI, "sweep", str(tmp / "two.yaml"), "--store", str(store), "--no-mlflow"],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert swept.returncode == 0, swept.stdout + swept.stderr
    out = tmp / "report"
    cmd = [*CLI, "report", "two", "--store", str(store), "--out", str(out), "--bootstrap", "20"]
    made = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    return store, out


def test_report_numbers_come_from_the_runs(report):
    store, out = report
    fits = json.loads((out / "fits.json").read_text())
    runs = pd.read_parquet(store / "runs")
    assert sorted(fits["runs"]) == sorted(runs["run_hash"]) and fits["n_runs"] == 2
    assert fits["code_version"] == sorted(set(runs["code_version"]))
    curves = pd.read_parquet(store / "curves")
    final = curves[(curves.split == "eval") & (curves.metric == "exact") & (curves.step == 120)]
    diagram = fits["phase_diagram"]["exact"]["3"]
    assert sorted(diagram.values()) == pytest.approx(sorted(final["value"]))
    points = curves[(curves.split == "eval") & (curves.metric == "exact") & (curves.step > 0)]
    assert fits["accuracy_vs_loss"]["n_points"] == len(points)
    for name in ("loss_vs_params.png", "accuracy_vs_loss.png", "phase_diagram.png", "training_curves.png"):
        assert (out / name).stat().st_size > 5_000
    leads = fits["progress"]["lead_times"]  # every run logged its progress measures
    assert sorted(r["run_hash"] for r in leads) == sorted(runs["run_hash"])
    assert {r["measure"] for r in leads} == {"wall_probe_best"} and (out / "progress_panel.png").exists()
    page = (out / "index.html").read_text()
    assert 'id="summary"' in page and 'id="lead-times"' in page and page.count("data:image/png;base64,") == 5


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium not installed: apt-get install chromium (`.ci/run` does)")
    shot = tmp_path / "report.png"
    page = (report[1] / "index.html").as_uri()
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--screenshot={shot}", "--window-size=1200,1800", page]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 50_000  # a page with five plots, not a blank one
