"""sweep -> store -> report on a two-cell grid, the report's numbers traced back to the runs, and the
page rendered by a real headless Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from analysis.report import FIGURES

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
    tracking = f"sqlite:///{tmp / 'mlflow.db'}"  # the sweep ran without MLflow: the report makes the parent
    cmd = [*CLI, "report", "two", "--store", str(store), "--out", str(out), "--bootstrap", "20",
           "--tracking-uri", tracking]  # fmt: skip
    made = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "report logged as artifacts of the sweep's parent run" in made.stdout
    return store, out, tracking


def test_report_numbers_come_from_the_runs(report):
    store, out, _ = report
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
    for name in FIGURES:
        assert (out / name).stat().st_size > 5_000
    leads = fits["progress"]["lead_times"]  # every run logged its progress measures
    assert sorted(r["run_hash"] for r in leads) == sorted(runs["run_hash"])
    assert {r["measure"] for r in leads} == {"wall_probe_best"} and (out / "progress_panel.png").exists()
    page = (out / "index.html").read_text()
    assert 'id="summary"' in page and 'id="lead-times"' in page  # with the progress panel:
    assert page.count("data:image/png;base64,") == len(FIGURES) + 1 == 7
    assert page.count("<figure>") == page.count("</figure>") == 7  # closed: figures do not nest
    for section in ("transitions", "boundary", "curves", "scaling", "not-fitted"):
        assert f'id="{section}"' in page
    # one problem size: each question is answered or says why not
    assert set(fits["per_size"]) == set(fits["artefact"]) == {"3"}
    assert fits["artefact"]["3"]["loss"]["verdict"] in ("artefact", "beyond artefact", "undetermined")
    assert "a law needs 2" in fits["not_fitted"]["params boundary law"]
    assert fits["findings"].startswith("2 runs") and "Phase boundary" in fits["findings"]
    assert html.escape(fits["findings"]) in page


def test_report_is_logged_to_the_sweeps_mlflow_parent_run(report):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=report[2])
    parent = client.search_runs([client.get_experiment_by_name("two").experiment_id],
                                "tags.`search_scaling.run_hash` = 'sweep:two'")  # fmt: skip
    assert len(parent) == 1
    logged = {a.path for a in client.list_artifacts(parent[0].info.run_id, "report")}
    assert {f"report/{name}" for name in (*FIGURES, "index.html", "fits.json")} <= logged


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
    assert shot.exists() and shot.stat().st_size > 50_000  # a page with its plots, not a blank one
    # the page keeps its width: figures are closed and do not indent into one another
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page],
                         capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    assert re.findall(r"</?figure>", dom) == ["<figure>", "</figure>"] * 7  # siblings, never nested
