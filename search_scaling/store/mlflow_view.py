"""The first view of a sweep in MLflow 3's UI: what a server-side record can set, set.

MLflow's Runs page keeps its view (columns, sorting, charts, which runs are plotted) in the
browser, but opens a *shared view* from the link ``#/experiments/<id>/runs?viewStateShareKey=<key>``:
the experiment tag ``mlflow.sharedViewState.<key>`` holds that view as JSON (the same record the
UI's own Share button writes; read by MLflow 3.17's `useSharedExperimentViewState`). The view
written here lists the cells flat, sorted by name, with the primary metric and the loss (last
values) as the first columns, and opens the chart view on those two curves, against log-spaced
steps on a log axis, for every cell (not only the first 10). A run's colour is its tag
``mlflow.runColor``; cells are coloured by model size (one colour per size, the same in every sweep),
so curves of different sizes do not collide.

What no link or tag controls (clicks, documented in the README): the order of the charts MLflow
adds for the other metrics (alphabetical within each section), and the run page, which opens on
its Overview.
"""

from __future__ import annotations

import json
import math

VIEW_KEY = "search-scaling-cells"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
SHARED_VIEW = f"runs?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"  # model training, not GenAI
# Without the shared view (an experiment a lone `train` or `mlflow-sync` made): listed flat, by name.
SORTED_VIEW = "runs?workflowType=machine_learning&orderByKey=tags.%60mlflow.runName%60&orderByAsc=true"
COLOUR_TAG = "mlflow.runColor"
SECTION = "search-scaling-first"
# viridis at 8 stops: dark blue (small models) to yellow (large); sizes between are interpolated
PALETTE = ("#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39", "#fde725")
PARAMS_RANGE = (1e2, 1e8)  # non-embedding parameters mapped onto the palette (log scale)


def view_state(metrics: list[str], cells: int) -> dict:
    """The shared view: ``metrics`` (e.g. ``eval/exact``, ``eval/loss``) as the first columns and
    the first charts; ``cells`` runs plotted. Keys MLflow does not find here take its defaults."""
    charts = [_line_chart(metric, cells) for metric in metrics]
    columns = [f"metrics.`{m}`" for m in metrics] + ["metrics.`scale/params_nonembed`"]
    return {
        "searchFilter": "",
        "orderByKey": "tags.`mlflow.runName`",  # flat and in task-size, model, seed order
        "orderByAsc": True,
        "startTime": "ALL",
        "lifecycleFilter": "Active",
        "datasetsFilter": [],
        "modelVersionFilter": "All Runs",
        "selectedColumns": columns,
        "runsHiddenMode": "SHOW_ALL",  # plot every cell, not the first 10
        "compareRunCharts": charts,
        "compareRunSections": [
            {
                "uuid": SECTION,
                "name": "accuracy and loss",
                "display": True,
                "isReordered": False,
                "deleted": False,
                "isGenerated": False,
            }
        ],  # fmt: skip
        "hideEmptyCharts": True,
        "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0, "selectedXAxisMetricKey": ""},
    }


def _line_chart(metric: str, cells: int) -> dict:
    loss = "loss" in metric.rsplit("/", 1)[-1]
    return {
        "uuid": f"search-scaling-{metric}",
        "type": "LINE",
        "metricSectionId": SECTION,
        "deleted": False,
        "isGenerated": False,
        "metricKey": metric,
        "selectedMetricKeys": [metric],
        "displayName": metric,
        "runsCountToCompare": max(10, cells),
        "lineSmoothness": 0,
        "xAxisKey": "step",
        "xAxisScaleType": "log",  # evaluations are log-spaced in steps
        "scaleType": "log" if loss else "linear",
        "range": {},
        "selectedXAxisMetricKey": "",
        "yAxisKey": "metric",
        "yAxisExpressions": [],
        "ignoreOutliers": False,
        "useGlobalXaxisKey": True,
        "useGlobalLineSmoothing": True,
    }


def view_tag(primary_metrics: list[str], cells: int) -> tuple[str, str]:
    """(tag key, JSON value) of the shared view for a sweep whose tasks' primary metrics are these."""
    metrics = [f"eval/{m}" for m in dict.fromkeys(primary_metrics)] + ["eval/loss"]
    return VIEW_TAG, json.dumps(view_state(metrics, cells), separators=(",", ":"))


def run_colour(params_nonembed: float | None) -> str | None:
    """A cell's colour by model size: log10 of its non-embedding parameters on `PALETTE`."""
    if params_nonembed is None or not params_nonembed > 0:
        return None
    low, high = (math.log10(v) for v in PARAMS_RANGE)
    x = min(max((math.log10(params_nonembed) - low) / (high - low), 0.0), 1.0) * (len(PALETTE) - 1)
    i = min(int(x), len(PALETTE) - 2)
    a, b = (_rgb(PALETTE[i]), _rgb(PALETTE[i + 1]))
    return "#" + "".join(f"{round(u + (x - i) * (v - u)):02x}" for u, v in zip(a, b))


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[k : k + 2], 16) for k in (1, 3, 5))
