"""sweep -> store -> report on a two-cell grid, as a person runs it: the sweep's plain (piped)
display, the report it writes at the end traced back to the runs, the page rendered by a real
headless Chromium, and the sweep in MLflow: its parent run (FINISHED, spec, aggregate numbers) and
the MLflow UI served by `search-scaling ui` showing the cells and a metric chart."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.report import FIGURES, OPTIONAL_FIGURES
from tests.postgres import free_port

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "search_scaling.cli"]
SPEC = {
    "name": "two",
    "description": "Two maze cells for the report test.",
    "tasks": [{"task": "maze", "sizes": [3]}],
    "models": ["L1-D8", "L2-D16"],
    "training": {"eval_points": 12, "eval_examples": 64, "lr": 1e-2},
    "budget": {"steps": 120},
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The sweep, piped (not a terminal), mirrored to the store's MLflow and writing its report."""
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "two.yaml").write_text(yaml.safe_dump(SPEC))
    store = tmp / "store"
    cmd = [*CLI, "sweep", str(tmp / "two.yaml"), "--store", str(store), "--bootstrap", "20"]
    swept = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert swept.returncode == 0, swept.stdout + swept.stderr
    return store, store / "reports" / "two", f"sqlite:///{store / 'mlflow.db'}", swept.stdout


def test_the_piped_display_tells_the_truth_from_the_first_line_to_the_summary(report):
    out = report[3].splitlines()
    assert out[0].startswith("reading ") and out[1].startswith("sweep two: 2 cells -> store ")
    log = out[2].removeprefix("log: ").split()[0]
    assert out[2].startswith("log: ") and "Started a local Ray instance" in Path(log).read_text()
    stages = [line.split("] ", 1)[1] for line in out if re.match(r"\[ *\d+s since start\] ", line)]
    assert stages[:2] == [
        "setting up the ledger and MLflow...",
        "starting Ray... (2 of 2 cells to run, 0 reused)",
    ]
    assert stages[2] == "warming 2 workers..." and stages[3] == "running 2 cell(s), 2 at a time"
    assert sum(s.startswith("done maze-3 L") for s in stages) == 2 and stages[-1] == "finished: 2/2 cells"
    text = report[3]
    assert "Token authentication" not in text and "INFO" not in text and "{'done'" not in text
    assert re.search(
        r"sweep two: 2 cells: 2 done; 2 trained now, 0 reused from earlier runs; \d+s \(start-up", text
    )
    assert "  best exact on maze-3: " in text and f"report: {report[1].resolve() / 'index.html'}" in text
    assert "\n- The sweep: 2 runs" in text and "['The sweep" not in text  # findings as bullets, not a list
    assert "MLflow: report logged as artifacts of the sweep's parent run" in text
    assert re.search(
        r"MLflow: .*search-scaling.* ui --store \S+ +then open http://127.0.0.1:5000/#/experiments/", text
    )
    assert all("…" not in line for line in out)  # piped: complete lines, no cut columns


def test_report_numbers_come_from_the_runs(report):
    store, out = report[:2]
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
    assert sorted({r["run_hash"] for r in leads}) == sorted(runs["run_hash"])
    assert {r["measure"] for r in leads} == {
        "wall_probe_best",
        "adj_attn_max",
        "lens_decision_L0",
        "path_probe_best",
    }
    assert (out / "progress_panel.png").exists()
    page = (out / "index.html").read_text()
    assert 'id="summary"' in page and 'id="lead-times"' in page  # with the progress panel:
    drawn = len(FIGURES) + 1 + sum((out / name).exists() for name in OPTIONAL_FIGURES)
    assert page.count("data:image/png;base64,") == drawn >= 7
    assert page.count("<figure>") == page.count("</figure>") == drawn  # closed: figures do not nest
    for section in ("transitions", "boundary", "curves", "scaling", "not-fitted"):
        assert f'id="{section}"' in page
    # one problem size: each question is answered or says why not
    assert set(fits["per_size"]) == set(fits["artefact"]) == {"3"}
    assert fits["artefact"]["3"]["loss"]["verdict"] in ("artefact", "beyond artefact", "undetermined")
    assert "a law needs 2" in fits["not_fitted"]["params boundary law"]
    assert fits["findings"][0].startswith("The sweep: 2 runs") and any("N*_50" in f for f in fits["findings"])
    assert all(html.escape(f) in page for f in fits["findings"])


def _parent(tracking: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name("two")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`search_scaling.run_hash` = 'sweep:two'")
    return client, experiment, parent


def test_the_sweep_in_mlflow_a_finished_parent_with_spec_report_and_aggregate_numbers(report, tmp_path):
    client, experiment, parent = _parent(report[2])
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert experiment.tags["mlflow.note.content"] == SPEC["description"]
    assert parent.info.status == "FINISHED" and parent.info.end_time > parent.info.start_time
    logged = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "spec.yaml" in logged and "report" in logged
    reported = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {f"report/{name}" for name in (*FIGURES, "index.html", "fits.json")} <= reported
    spec = client.download_artifacts(parent.info.run_id, "spec.yaml", str(tmp_path))
    assert yaml.safe_load(Path(spec).read_text()) == SPEC
    params, metrics, tags = parent.data.params, parent.data.metrics, parent.data.tags
    assert params["axis.model"] == "L1-D8, L2-D16" and params["grid_n"] == "3" and params["cells"] == "2"
    assert params["steps"] == "120" and "tokens" not in params and "size" not in params
    assert metrics["sweep/done"] == 2 and metrics["sweep/failed"] == 0 and metrics["sweep/total"] == 2
    final = pd.read_parquet(report[0] / "runs")["final_json"].map(lambda j: json.loads(j)["exact"])
    assert metrics["sweep/best exact maze-3"] == pytest.approx(final.max())
    assert len(tags["mlflow.source.git.commit"]) == 40 and tags["mlflow.source.name"].endswith("two.yaml")
    children = client.search_runs([experiment.experiment_id], "tags.`search_scaling.kind` = 'cell'")
    names = sorted(r.info.run_name for r in children)
    assert [n.rsplit(" ", 1)[0] for n in names] == ["maze-3 L1-D8 s0", "maze-3 L2-D16 s0"]  # + hash
    for child in children:
        assert child.info.status == "FINISHED" and "grid_n" in child.data.params
        assert not {"size", "tokens", "train_sampling"} & set(child.data.params)
        assert "None" not in child.data.params.values()
        assert (
            child.data.metrics["scale/params_nonembed"] in (888, 6592)
            and child.data.metrics["spec/grid_n"] == 3
        )


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
    figures = len(FIGURES) + 1 + sum((report[1] / name).exists() for name in OPTIONAL_FIGURES)
    assert re.findall(r"</?figure>", dom) == ["<figure>", "</figure>"] * figures  # siblings, never nested


def test_mlflow_ui_shows_the_cells_by_name_and_a_metric_chart(report):
    """`search-scaling ui` as a person starts it (a light server that says where it listens), then
    the page the sweep printed, rendered by headless Chromium: the runs table lists the cells by
    name with their seeds, and the chart view draws their curves."""
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium not installed: apt-get install chromium (`.ci/run` does)")
    port = free_port()
    proc = subprocess.Popen([*CLI, "ui", "--store", str(report[0]), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        lines = _read_until(proc, "MLflow UI listening on", 180)
        assert f"MLflow UI listening on http://127.0.0.1:{port}" in lines[-1], lines
        tree = _process_tree(proc.pid)
        assert (
            len(tree) <= 3
        )  # this command, the server, one web worker; no job runner (MLflow's default: 15)
        (link,) = [line.split()[-1] for line in _read_until(proc, "/#/experiments/", 30) if "two " in line]
        page = f"{link}&compareRunsMode=CHART"
        wanted = ("Model training", SPEC["description"], "maze-3 L1-D8 s0 ", "maze-3 L2-D16 s0 ", "sweep two",
                  "3 matching runs", "eval/exact")  # fmt: skip
        dom, text = _render(browser, page, wanted)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert all(words in text for words in wanted), (wanted, text[:3000])  # not the GenAI overview
    assert re.search(r"maze-3 L1-D8 s0 \w{6}", text) and re.search(r"maze-3 L2-D16 s0 \w{6}", text)
    assert dom.count("js-plotly-plot") >= 2  # the cells' curves are drawn
    deadline = time.time() + 30
    while _alive(tree) and time.time() < deadline:  # the server goes with the command
        time.sleep(0.5)
    assert not _alive(tree)


def _alive(pids: list[int]) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "-p", ",".join(map(str, pids))], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _render(browser: str, page: str, wanted: tuple, tries: int = 3) -> tuple[str, str]:
    """(DOM, visible text) of ``page`` once it shows everything ``wanted``: the single-page app
    fetches runs and metrics as it goes, which a machine under load may not finish in one pass."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,2400",
             "--virtual-time-budget=60000", "--dump-dom"]  # fmt: skip
    for _ in range(tries):
        dom = subprocess.run([browser, *flags, page], capture_output=True, text=True, timeout=180).stdout
        text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style).*?</\1>", "", dom, flags=re.S)))
        text = re.sub(r"\s+", " ", text)
        if all(words in text for words in wanted) and dom.count("js-plotly-plot") >= 2:
            break
    return dom, text


def _read_until(proc: subprocess.Popen, marker: str, timeout: float) -> list[str]:
    lines, deadline = [], time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if marker in line:
            return lines
    pytest.fail(f"no line with {marker!r} within {timeout:.0f}s: {lines}")


def _process_tree(pid: int) -> list[int]:
    children = {}
    for line in subprocess.run(
        ["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True
    ).stdout.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    return tree
