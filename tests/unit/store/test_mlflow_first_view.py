"""The first view of a sweep in MLflow 3: the shared view its driver writes (cells flat by name,
primary metric and loss as the first columns and charts, log step axis, every cell plotted) uses
the link and the keys this MLflow's UI reads, and each cell's colour says its model size."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import mlflow

from search_scaling.store.mirror import Mirror
from search_scaling.store.mlflow_seed import seed_database
from search_scaling.store.mlflow_view import (
    COLOUR_TAG,
    SHARED_VIEW,
    VIEW_KEY,
    VIEW_TAG,
    run_colour,
    view_state,
)
from tests.unit.store.test_mlflow_view import FakeMirror, _sweep_run

UI_JS = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"


def test_the_driver_writes_the_shared_view_and_links_to_it(tmp_path):
    mirror = FakeMirror()
    run, _ = _sweep_run(tmp_path, mirror)
    run.start()
    ((experiment, key, value),) = [args for method, args in mirror.calls if method == "set_experiment_tag"]
    assert (experiment, key) == ("1", VIEW_TAG)
    view = json.loads(value)
    assert view["selectedColumns"][:2] == ["metrics.`eval/exact`", "metrics.`eval/loss`"]
    assert [c["metricKey"] for c in view["compareRunCharts"]] == ["eval/exact", "eval/loss"]
    assert {c["xAxisScaleType"] for c in view["compareRunCharts"]} == {"log"}
    assert all(c["runsCountToCompare"] >= 4 for c in view["compareRunCharts"])  # every cell, not 10
    assert view["runsHiddenMode"] == "SHOW_ALL" and view["orderByKey"] == "tags.`mlflow.runName`"
    assert run.view_url("http://127.0.0.1:5000").endswith(f"/#/experiments/1/{SHARED_VIEW}")
    assert (
        SHARED_VIEW.endswith(f"&viewStateShareKey={VIEW_KEY}")
        and "workflowType=machine_learning" in SHARED_VIEW
    )


def test_the_view_speaks_the_installed_ui_s_language():
    """Planted truth from the UI bundle this MLflow serves: the share-key parameter, the tag prefix,
    the search and UI-state keys it copies from a shared view, and the chart fields it draws by."""
    bundle = "".join(p.read_text(errors="replace") for p in UI_JS.glob("*.js"))
    assert '"viewStateShareKey"' in bundle and '"mlflow.sharedViewState."' in bundle
    assert "mlflow.runColor" in bundle
    for key in view_state(["eval/exact"], 4):
        assert f'"{key}"' in bundle, key  # every key is one the UI knows
    for field in ("xAxisScaleType", "runsCountToCompare", "selectedMetricKeys", "metricSectionId"):
        assert f"this.{field}=" in bundle, field


def test_a_cell_s_colour_is_its_model_size():
    colours = [run_colour(n) for n in (252, 888, 6592, 56640)]
    assert len(set(colours)) == 4 and all(c.startswith("#") and len(c) == 7 for c in colours)
    assert run_colour(888) == run_colour(888.0) and run_colour(None) is None and run_colour(0) is None
    assert run_colour(1e2) == "#440154" and run_colour(1e9) == "#fde725"  # the ends of the palette


def test_a_child_run_carries_its_colour_in_mlflow(tmp_path):
    db = tmp_path / "mlflow.db"
    assert seed_database(db, tmp_path / "mlartifacts")
    mirror = Mirror(f"sqlite:///{db}")
    mirror.child_run(
        "s", "abc123", "maze-3 L1-D8 s0 abc123", {"lr": 0.01}, {}, {"scale/params_nonembed": 888.0}
    )
    with sqlite3.connect(db) as conn:
        (colour,) = conn.execute("select value from tags where key = ?", (COLOUR_TAG,)).fetchone()
    assert colour == run_colour(888)
