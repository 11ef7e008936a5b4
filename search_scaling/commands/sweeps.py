"""Commands over a whole sweep: `sweep`, `demo`, `tune`, `submit` (to a cluster) and `status`."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from search_scaling.commands.args import _check_count, _stores
from search_scaling.commands.reports import _report_mirror
from search_scaling.sweep.session import log_report, print_failures, report_dir


def cmd_demo(args: argparse.Namespace) -> int:
    """`make demo`: run the laptop sweep (finished cells are reused), then write its report."""
    _check_count("--bootstrap", args.bootstrap)
    print(f"search-scaling demo: reading {_shown(args.spec)} ...", flush=True)  # before the heavy imports
    from search_scaling.sweep.session import run_session
    from search_scaling.sweep.spec import load_sweep

    stores = _stores(args)
    return run_session(load_sweep(args.spec), stores, None, report=True, n_boot=args.bootstrap)


def _shown(path: Path) -> str:
    """A path as a person would type it: relative to the working directory when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run (or resume, or grow) a sweep: only cells the ledger does not have as finished run; then
    the report, unless --no-report."""
    _check_count("--bootstrap", args.bootstrap)
    print(f"reading {args.spec} ...", flush=True)  # torch and the stores take seconds to import: said first
    from search_scaling.sweep import preflight
    from search_scaling.sweep.session import run_session
    from search_scaling.sweep.sources import store_lookup
    from search_scaling.sweep.spec import load_sweep

    stores = _stores(args)
    sweep = load_sweep(args.spec, store_lookup(stores))  # init_from may name another sweep's cells
    preflight.before_sweep(sweep, stores, args.retrain)  # --retrain, a source's weights: before Ray
    return run_session(sweep, stores, args.address, report=not args.no_report, n_boot=args.bootstrap)


def cmd_tune(args: argparse.Namespace) -> int:
    """Search the spec's `tune:` space on Ray Tune, then write the tuned spec and the search's report."""
    print(f"reading {args.spec} ...", flush=True)  # before the heavy imports
    import json

    from analysis.tuning import write_tuning_report
    from search_scaling.sweep import tune as tuning
    from search_scaling.sweep import tune_outputs, tune_plan
    from search_scaling.sweep.spec import load_sweep

    sweep, stores = load_sweep(args.spec), _stores(args)
    groups = tune_plan.tune_groups(sweep)
    t = sweep.tune
    print(f"tune {sweep.name}: {len(groups)} group(s) ({t.per}) x {t.samples} samples, objective held-out "
          f"{t.metric} ({t.mode}) -> sweep {sweep.name}{tune_plan.SUFFIX} in {stores.root}")  # fmt: skip
    try:
        trials = tuning.run_tune(sweep, stores, args.address, verbose=args.verbose)
    except KeyboardInterrupt:
        from search_scaling.sweep.tune_stop import interrupted_words

        print(f"\n{interrupted_words(stores, sweep.name)}", file=sys.stderr)
        return 130
    summary = tune_outputs.summarise(sweep, stores, trials)
    meta = json.loads(tuning.meta_path(stores, sweep.name).read_text())
    out = args.out or report_dir(stores.root, sweep.name + tune_plan.SUFFIX)
    page = write_tuning_report(summary["table"], summary["best"], summary["law"], meta, Path(out))
    if summary["best"].empty:
        print("no trial finished: no tuned spec written", file=sys.stderr)
        return 1
    section = tune_outputs.tuned_section(sweep, summary["best"], summary["law"])
    path = tune_outputs.write_tuned_spec(sweep, section, args.tuned)
    print(summary["best"].drop(columns=["runs"]).to_string(index=False))
    print(f"tuned spec: {path}\nreport: {page}")
    print(log_report(_report_mirror(stores.root, args), sweep.name + tune_plan.SUFFIX, Path(out)))
    return 0


# Never upload these with the working directory: job uploads over 100 MiB fail, and stores,
# databases and virtualenvs do not belong on the cluster.
SUBMIT_EXCLUDES = [".git", ".venv", ".venv-*", ".cache", "runs", "*.db", "mlartifacts", "__pycache__"]


def submission(spec: Path, store: str | None = None, ledger_url: str | None = None,
               tracking_uri: str | None = None) -> tuple[str, dict]:  # fmt: skip
    """(entrypoint, runtime_env) of a sweep job. The entrypoint names the spec only: Ray shows it to
    everyone who can list jobs. Store locations, which may carry passwords, travel as the job's
    environment variables (the same ones `sweep` reads), which the dashboard redacts."""
    import shlex

    from search_scaling.store.recorder import ENV_LEDGER, ENV_STORE, ENV_TRACKING

    given = {ENV_STORE: store, ENV_LEDGER: ledger_url, ENV_TRACKING: tracking_uri}
    runtime_env: dict = {"working_dir": ".", "excludes": SUBMIT_EXCLUDES}
    if any(given.values()):
        runtime_env["env_vars"] = {name: value for name, value in given.items() if value}
    return f"search-scaling sweep {shlex.quote(str(spec))}", runtime_env


def cmd_submit(args: argparse.Namespace) -> int:
    """Submit a sweep to a Ray cluster's job server (what `ray job submit` does, validated first)."""
    from ray.job_submission import JobSubmissionClient

    from search_scaling.store.locations import redact
    from search_scaling.sweep.spec import load_sweep

    sweep = load_sweep(args.spec)  # fail here, not on the cluster
    entrypoint, runtime_env = submission(args.spec, args.store, args.ledger_url, args.tracking_uri)
    client = JobSubmissionClient(args.address)
    job_id = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env)
    address = redact(args.address)
    print(f"submitted sweep {sweep.name} ({len(sweep.cells)} cells) as job {job_id}")
    print(f"follow: ray job logs --address {address} --follow {job_id}")
    print(f"status: ray job status --address {address} {job_id}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Where a sweep stands, from the store's runs table and the ledger."""
    from search_scaling.store.locations import redact
    from search_scaling.sweep.progress import make_console, summary_table

    stores = _stores(args, create=False)
    runs = stores.parquet.runs(sweep=args.sweep)
    if runs.empty:
        known = ", ".join(stores.parquet.run_index()) or "none"
        raise ValueError(f"no runs of sweep {args.sweep!r} in store {redact(stores.root)}; its sweeps: "
                         f"{known} (`search-scaling sweeps` lists them with their runs)")  # fmt: skip
    make_console().print(summary_table(runs))
    if _ledger_missing(stores):  # a store copied without its ledger: say so, do not create one
        print(f"ledger: none at {stores.ledger_url} (the runs table above is all there is)")
    else:
        counts = stores.ledger.counts(runs["run_hash"].tolist())
        print("ledger: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
        print_failures(stores, runs["run_hash"].tolist())
    corrupt = _corrupt_parts(stores.parquet, args.sweep)
    for path, error in corrupt:
        print(f"corrupt curve part {path}: {error}", file=sys.stderr)
    if corrupt:
        print(f"{len(corrupt)} curve part(s) do not read back: those runs' curves are incomplete. Delete "
              "the part(s) named above so that readers (report, pandas) skip their steps; to restore those "
              "steps retrain the run(s) in place: search-scaling sweep SPEC --retrain HASH (a plain "
              "rerun reuses finished runs)", file=sys.stderr)  # fmt: skip
    return 1 if corrupt else 0


def _ledger_missing(stores) -> bool:
    url = stores.ledger_url
    return url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()


def _corrupt_parts(parquet, sweep: str) -> list[tuple[str, str]]:
    """(path, error) of every curve part of ``sweep`` that does not read back in full."""
    from search_scaling.store.repair import corrupt_parts

    return [(path, error) for _, path, error in corrupt_parts(parquet, sweep)]


def cmd_sweeps(args: argparse.Namespace) -> int:
    """The sweeps in a store: name, runs, and how many of them finished (runs table and ledger)."""
    from search_scaling.store.locations import redact

    stores = _stores(args, create=False)
    index = stores.parquet.run_index()
    if not index:
        print(f"no sweeps in store {redact(stores.root)} yet (`search-scaling sweep SPEC` runs one)")
        return 0
    statuses = (
        {} if _ledger_missing(stores) else stores.ledger.statuses([h for v in index.values() for h in v])
    )
    width = max(len(name) for name in index)
    print(f"sweeps in store {redact(stores.root)}:")
    for name, hashes in index.items():
        counts = Counter(statuses.get(h, "no ledger row") for h in hashes)
        said = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        print(f"  {name:{width}s}  {len(hashes):4d} runs  ({said})")
    print("`search-scaling status SWEEP` shows one sweep's runs with their hashes")
    return 0
