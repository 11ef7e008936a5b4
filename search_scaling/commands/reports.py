"""`search-scaling report`: a sweep's report (or a search's), logged to the MLflow the sweep
mirrored to."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from search_scaling.sweep.session import log_report, report_dir


def cmd_report(args: argparse.Namespace) -> int:
    """Write a sweep's report: index.html, PNG plots and fits.json."""
    from analysis.report import build_report
    from search_scaling.store import Stores

    store = Stores.locate(args.store, create=False)  # --store, $SEARCH_SCALING_STORE or ./runs
    out = args.out or report_dir(store, args.sweep)
    if args.sweep.endswith("-tune"):
        return _tuning_report(store, args.sweep, Path(out), args)
    from search_scaling.sweep.preflight import report_warning

    warning = report_warning(store, args.sweep)
    if warning:  # before the seconds the report takes, and again under its findings
        print(warning, file=sys.stderr, flush=True)
    fits = build_report(store, args.sweep, out, n_boot=args.bootstrap)
    print(f"report: {Path(out).resolve() / 'index.html'}  ({fits['n_runs']} runs)")
    print("\n".join(f"- {line}" for line in fits["findings"]))
    print(log_report(_report_mirror(store, args), args.sweep, out))
    if warning:
        print(warning, file=sys.stderr)
    return 0


def _tuning_report(store: str, sweep: str, out: Path, args: argparse.Namespace) -> int:
    """The report of a hyperparameter search, from what `tune` saved beside the store."""
    import json

    from analysis.tuning import best_per_group, lr_law, trial_table, write_tuning_report
    from search_scaling.store import Stores
    from search_scaling.sweep.tune import meta_path
    from search_scaling.sweep.tune_plan import SUFFIX

    stores = Stores.resolve(store, mlflow=False, create=False)
    path = meta_path(stores, sweep.removesuffix(SUFFIX))
    if not path.exists():
        print(f"error: {path} not found: run `search-scaling tune SPEC` first", file=sys.stderr)
        return 2
    meta = json.loads(path.read_text())
    runs = stores.parquet.runs(sweep=sweep)
    table = trial_table(runs, meta["trials"], meta["fields"], meta["metric"], meta.get("baselines"))
    best = best_per_group(table, meta["mode"])
    law = {"fitted": False, "reason": "lr is not searched"}
    if "lr" in meta["fields"]:
        law = lr_law(table, meta["mode"])
    print(f"report: {write_tuning_report(table, best, law, meta, out).resolve()}")
    print(log_report(_report_mirror(store, args), sweep, out))
    return 0


def _report_mirror(store: str, args: argparse.Namespace):
    """The MLflow the sweep mirrored to: --tracking-uri, $MLFLOW_TRACKING_URI, or the SQLite file
    beside a local store if there is one (a report never creates a tracking database)."""
    import os

    from search_scaling.store.locations import sqlalchemy_url
    from search_scaling.store.mirror import Mirror, default_tracking_uri
    from search_scaling.store.recorder import ENV_TRACKING

    if args.no_mlflow:
        return None
    uri = args.tracking_uri or os.environ.get(ENV_TRACKING)
    if uri is None and "://" not in store and (Path(store) / "mlflow.db").exists():
        uri = default_tracking_uri(store)
    if uri is None:
        return None
    artifacts = Path(store) / "mlartifacts" if "://" not in store else None
    return Mirror(sqlalchemy_url(uri), artifacts)
