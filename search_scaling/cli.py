"""`search-scaling` command line: thin views over the library's typed entry points."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from search_scaling.cli_parser import build_parser
from search_scaling.sweep.session import log_report, print_failures, report_dir
from search_scaling.ui import cmd_ui, ui_command

__all__ = ["build_parser", "main", "submission", "ui_command", "SUBMIT_EXCLUDES"]


def cmd_maze(args: argparse.Namespace) -> int:
    """Build (or load) a cached maze dataset, then show a few mazes with their AOTP text."""
    from search_scaling.tasks.maze import (
        MazeConfig,
        SolvedMaze,
        load_or_build,
        parse_ids,
        render_ascii,
        to_aotp,
    )
    from search_scaling.tasks.maze.dataset import cache_path

    cfg = MazeConfig(args.grid_n, args.generator, args.p, args.endpoints, args.min_path_len, args.adj_order)
    start = time.perf_counter()
    batch = load_or_build(args.cache, cfg, args.n, args.seed, workers=args.workers)
    took = time.perf_counter() - start
    print(f"{len(batch)} mazes {cfg} in {took:.2f}s ({len(batch) / took:,.0f}/s incl. cache I/O)")
    print(f"cache: {cache_path(args.cache, cfg, args.n, args.seed)}")
    print(f"tokens: {batch.tokens.shape}, mean path {batch.path_len.mean():.1f} cells")
    for i in range(min(args.show, len(batch))):
        maze = SolvedMaze.from_batch(batch, i)
        if parse_ids(batch.tokens[i], cfg.grid_n) != maze:
            raise RuntimeError(f"maze {i}: token ids do not round-trip")
        print(f"\nmaze {i}:\n{render_ascii(maze)}\n{to_aotp(maze)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """`make demo`: run the laptop sweep (finished cells are reused), then write its report."""
    from search_scaling.sweep.session import run_session
    from search_scaling.sweep.spec import load_sweep

    _check_count("--bootstrap", args.bootstrap)
    stores = _stores(args)
    print(f"search-scaling demo: reading {args.spec} ...", flush=True)
    return run_session(load_sweep(args.spec), stores, None, report=True, n_boot=args.bootstrap)


def _parse_options(pairs: list[str], flag: str) -> dict:
    """``key=value`` pairs; values are parsed as YAML scalars (3 -> int, 0.1 -> float, dfs -> str)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects key=value, got {pair!r}")
        out[key] = yaml.safe_load(value)
    return out


def _stores(args: argparse.Namespace, create: bool = True):
    """Every command's stores, resolved one way (`Stores.resolve`) from the flags it takes.
    ``create=False`` for commands that only read: a mistyped --store is an error there, not a new
    empty store."""
    from search_scaling.store import Stores

    flag = lambda name: getattr(args, name, None)  # noqa: E731 -- not every command takes every flag
    mlflow = not flag("no_mlflow")
    return Stores.resolve(
        flag("store"), flag("ledger_url"), flag("tracking_uri"), mlflow=mlflow, create=create
    )


def cmd_train(args: argparse.Namespace) -> int:
    """Train one run through the stores, print its curve as it goes and a summary at the end."""
    from search_scaling.store import record_run
    from search_scaling.training import RunSpec

    names = ("task", "size", "model", "seed", "steps", "tokens", "batch_size", "lr", "loss_mask",
             "eval_points", "eval_examples", "precision", "train_sampling", "keep_checkpoints",
             "progress")  # fmt: skip
    fields = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if args.init_from:
        run, _, step = args.init_from.partition("@")
        fields["init_from"] = {"run": run, "step": _parse_options([f"step={step}"], "--init-from")["step"]
                               if step else None}  # fmt: skip
    fields["freeze"] = args.freeze
    spec = RunSpec(**fields, task_options=_parse_options(args.option, "--option"),
                   model_options=_parse_options(args.model_option, "--model-option"))  # fmt: skip
    cfg, stores = spec.model_config, _stores(args)
    print(f"run {spec.run_hash}: {spec.task} {spec.task_obj.size_name}={spec.size}, model {spec.model} "
          f"(n_layers={cfg.n_layers}, d_model={cfg.d_model}), seed {spec.seed}")  # fmt: skip
    try:
        result = record_run(spec, stores, verbose=True)
    except KeyboardInterrupt:
        print(f"\ninterrupted: run {spec.run_hash} released (ledger: failed, 'interrupted'); the same "
              "command trains it again", file=sys.stderr)  # fmt: skip
        return 130
    except Exception as err:  # noqa: BLE001 -- the ledger has it; one clear message, exit non-zero
        return _did_not_finish(stores, spec.run_hash, err)
    if result is None:
        return _nothing_to_do(stores, spec.run_hash)
    seconds = result.train_seconds
    print(f"\nstatus {result.status}: {result.steps} steps, {result.tokens:,} tokens in {seconds:.1f}s "
          f"({result.tokens / max(seconds, 1e-9):,.0f} tokens/s); "
          f"{result.scale['params_nonembed']:,} non-embedding parameters")  # fmt: skip
    for key, value in result.final.items():
        print(f"  {key:16s} {value:.4f}")
    print(f"curves: {stores.root}/curves   checkpoint: {result.checkpoint}")
    return 0 if result.status == "done" else 1


def _nothing_to_do(stores, run_hash: str) -> int:
    """0 when the run is finished; 1 when another live worker holds it (it is not done yet)."""
    from search_scaling.store.ledger import FINISHED

    row = stores.ledger.get(run_hash)
    if row["status"] in FINISHED:
        print(f"nothing to do: the ledger has this run as {row['status']!r} (store {stores.root})")
        return 0
    print(f"not started: run {run_hash} is {row['status']!r} under {row['owner']!r} (last heartbeat "
          f"{row['heartbeat_at']}); it is taken over once that heartbeat is stale",
          file=sys.stderr)  # fmt: skip
    return 1


def _did_not_finish(stores, run_hash: str, err: Exception) -> int:
    from search_scaling.store.recorder import describe

    try:  # the ledger itself may be what failed
        status = (stores.ledger.get(run_hash) or {}).get("status")
    except Exception:  # noqa: BLE001
        status = "unknown"
    retry = "; the same command trains it again" if status == "failed" else ""
    print(f"search-scaling train: run {run_hash} did not finish: {describe(err)}\n"
          f"ledger: {status!r}{retry}", file=sys.stderr)  # fmt: skip
    return 1


def cmd_mlflow_sync(args: argparse.Namespace) -> int:
    """Backfill MLflow from the Parquet store (after MLflow was down, or into a new server)."""
    from search_scaling.store.mirror import MirrorUnavailable
    from search_scaling.store.recorder import sync_mlflow

    try:
        logged = sync_mlflow(_stores(args, create=False), args.sweep)
    except MirrorUnavailable as err:  # already bounded in time and redacted
        raise ValueError(f"MLflow unavailable ({err}); nothing was changed, try again later") from None
    print(f"{len(logged)} runs checked, {sum(logged.values())} curve points logged")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a sweep spec and print its cells: run hash, sizes, parameters, budget, FLOPs."""
    from search_scaling.models import param_counts
    from search_scaling.sweep import preflight
    from search_scaling.sweep.short_budgets import short_budget_warnings
    from search_scaling.sweep.sources import store_lookup
    from search_scaling.sweep.spec import load_sweep
    from search_scaling.training.run import plan_run
    from search_scaling.training.weights import kept_bytes

    sweep = load_sweep(args.spec, store_lookup(lambda: _stores(args, create=False)))
    preflight.check_sources_kept(sweep, lambda: _stores(args, create=False))  # a finished source's weights
    total, kept, planned = 0.0, 0, []
    print(f"{'run_hash':16s} {'task':12s} {'size':>4s} {'model':9s} {'params':>11s} {'seed':>4s} "
          f"{'steps':>7s} {'tokens':>13s} {'FLOPs':>9s} {'kept':>9s} {'lr':>9s}")  # fmt: skip
    for cell in sweep.cells:
        held_out, steps, scale = plan_run(cell)
        planned.append((cell, steps))
        tokens = cell.tokens or int(steps * cell.batch_size * held_out.length.mean())
        flops = tokens * scale["flops_per_token"]
        total += flops
        kept += kept_bytes(cell, steps)
        print(f"{cell.run_hash:16s} {cell.task:12s} {cell.size:4d} {cell.model:9s} "
              f"{param_counts(cell.model_config)['params_nonembed']:11,d} {cell.seed:4d} {steps:7d} "
              f"{tokens:13,d} {flops:9.2e} {_megabytes(kept_bytes(cell, steps)):>9s} {cell.lr:9.3g}"
              f"{_origin(sweep, cell)}")  # fmt: skip
    if kept:
        print(f"kept checkpoints (keep_checkpoints, beside the curves): ~{_megabytes(kept)} in all")
    res = sweep.resources
    print(f"\n{sweep.path}: {len(sweep.cells)} cells, total ~{total:.2e} training FLOPs")
    print(f"per trial {res.cpus:g} CPU, {res.gpus:g} GPU; at most {sweep.max_concurrent} at once; "
          f"{sweep.retries} retries")  # fmt: skip
    for rule in dict.fromkeys(_stop_line(c.stop) for c in sweep.cells if c.stop):
        print(f"stop (steps stay the cap): {rule}")
    if sweep.tune is not None:
        from search_scaling.sweep.tune import tune_groups

        t = sweep.tune
        print(f"tune: {len(tune_groups(sweep))} group(s) per {t.per} x {t.samples} samples over "
              f"{', '.join(t.space)}, budget {t.budget[0]} {t.budget[1]}, objective {t.metric} "
              f"({t.mode})")  # fmt: skip
    if sweep.pack != "off":
        from search_scaling.sweep import packs

        budget = packs.memory_budget(sweep.pack_memory_gb, sweep.max_concurrent, res.gpus)
        print(f"pack: {sweep.pack}; " + "\n".join(packs.describe(sweep.packs(), budget)))
    for line in short_budget_warnings(planned):
        print(line)
    return 0


def _stop_line(stop: dict) -> str:
    """A cell's stop rules as `validate` shows them: ``target exact >= 0.99; plateau loss ...``."""
    from search_scaling.training.stop import higher_is_better

    parts = []
    if "target" in stop:
        t = stop["target"]
        parts.append(f"target {t['metric']} {'>=' if higher_is_better(t['metric']) else '<='} {t['value']:g}")
    if "plateau" in stop:
        p = stop["plateau"]
        window = f"(s/{1 + p['patience']:g}, s]"
        parts.append(f"plateau {p['metric']} (gain <= {p['min_delta']:g} over steps {window}, "
                     f"from step {p['min_steps']})")  # fmt: skip
    return "; ".join(parts)


def _origin(sweep, cell) -> str:
    """Where tuned values came from, for `validate`: `` lr tuned`` or `` lr extrapolated``."""
    return "".join(f" {k} {v}" for k, v in sweep.origins.get(cell.run_hash, {}).items())


def _megabytes(n: int) -> str:
    return "-" if n == 0 else f"{n / 1e6:.2f}MB"


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run (or resume, or grow) a sweep: only cells the ledger does not have as finished run; then
    the report, unless --no-report."""
    from search_scaling.sweep import preflight
    from search_scaling.sweep.session import run_session
    from search_scaling.sweep.sources import store_lookup
    from search_scaling.sweep.spec import load_sweep

    _check_count("--bootstrap", args.bootstrap)
    stores = _stores(args)
    print(f"reading {args.spec} ...", flush=True)  # the spec's cells import torch: seconds, said at once
    sweep = load_sweep(args.spec, store_lookup(stores))  # init_from may name another sweep's cells
    preflight.before_sweep(sweep, stores, args.retrain)  # --retrain, a source's weights: before Ray
    return run_session(sweep, stores, args.address, report=not args.no_report, n_boot=args.bootstrap)


def _check_count(flag: str, value: int) -> int:
    from analysis.checks import count

    return count(flag, value)


def cmd_tune(args: argparse.Namespace) -> int:
    """Search the spec's `tune:` space on Ray Tune, then write the tuned spec and the search's report."""
    import json

    from analysis.tuning import write_tuning_report
    from search_scaling.sweep import tune as tuning
    from search_scaling.sweep.spec import load_sweep

    sweep, stores = load_sweep(args.spec), _stores(args)
    groups = tuning.tune_groups(sweep)
    t = sweep.tune
    print(f"tune {sweep.name}: {len(groups)} group(s) ({t.per}) x {t.samples} samples, objective held-out "
          f"{t.metric} ({t.mode}) -> sweep {sweep.name}{tuning.SUFFIX} in {stores.root}")  # fmt: skip
    try:
        trials = tuning.run_tune(sweep, stores, args.address, verbose=args.verbose)
    except KeyboardInterrupt:
        from search_scaling.sweep.tune_stop import interrupted_words

        print(f"\n{interrupted_words(stores, sweep.name)}", file=sys.stderr)
        return 130
    summary = tuning.summarise(sweep, stores, trials)
    meta = json.loads(tuning.meta_path(stores, sweep.name).read_text())
    out = args.out or report_dir(stores.root, sweep.name + tuning.SUFFIX)
    page = write_tuning_report(summary["table"], summary["best"], summary["law"], meta, Path(out))
    if summary["best"].empty:
        print("no trial finished: no tuned spec written", file=sys.stderr)
        return 1
    section = tuning.tuned_section(sweep, summary["best"], summary["law"])
    path = tuning.write_tuned_spec(sweep, section, args.tuned)
    print(summary["best"].drop(columns=["runs"]).to_string(index=False))
    print(f"tuned spec: {path}\nreport: {page}")
    print(log_report(_report_mirror(stores.root, args), sweep.name + tuning.SUFFIX, Path(out)))
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
        raise ValueError(f"no runs of sweep {args.sweep!r} in store {redact(stores.root)}")
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


def _table(args: argparse.Namespace):
    """The table, with the --eval columns added and the --drop-highest rows dropped (rows keep their
    labels, so errors can name them)."""
    import pandas as pd

    from analysis.checks import count
    from analysis.records import load_table

    drop = count("--drop-highest", args.drop_highest)
    table = load_table(args.table)
    for expr in args.eval:  # e.g. "D = `Training FLOP` / (6 * `Model Size`)"
        try:
            table = table.eval(expr)
        except Exception as err:  # noqa: BLE001 -- pandas raises many kinds: syntax, names, types
            raise ValueError(f"--eval {expr!r}: {type(err).__name__}: {err}") from None
        if not isinstance(table, pd.DataFrame):
            raise ValueError(f"--eval {expr!r} must add a column: NAME = EXPRESSION, e.g. "
                             "\"D = `Training FLOP` / (6 * `Model Size`)\"")  # fmt: skip
    if drop:
        column = args.y if hasattr(args, "y") else args.loss
        _columns(table, [column])
        if drop >= len(table):
            raise ValueError(f"--drop-highest {drop}: the table has only {len(table)} rows")
        table = table.sort_values(column).iloc[:-drop]
    return table


def _columns(table, names: list[str]):
    """The named columns as finite floats; a missing or non-numeric column, or a NaN, is named."""
    from analysis.checks import finite

    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the table; it has {list(table.columns)}")
    out = []
    for name in names:
        try:
            values = table[name].to_numpy(float)
        except (TypeError, ValueError):
            raise ValueError(f"column {name!r} is not numeric, e.g. {table[name].iloc[0]!r}") from None
        out.append(finite(f"column {name!r}", values, table.index))
    return out


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit a scaling law to any table (CSV or Parquet) and print it (or JSON)."""
    import json

    from analysis.checks import count, positive
    from analysis.fit import bootstrap, fit_form, holdout_largest, select

    n_boot = count("--bootstrap", args.bootstrap)
    if args.x2 and args.form != "chinchilla":
        raise ValueError("--x2 is only for --form chinchilla (parameters N in --x, tokens D in --x2)")
    table = _table(args)
    names = [args.x] + ([args.x2] if args.x2 else []) + [args.y]
    *cols, y = [positive(f"column {n!r}", v, table.index) for n, v in zip(names, _columns(table, names))]
    X = np.column_stack(cols)
    if args.form == "chinchilla" and X.shape[1] != 2:
        raise ValueError("--form chinchilla needs --x (parameters N) and --x2 (tokens D)")
    try:
        fit = select(X, y) if args.form == "auto" else fit_form(args.form, X, y)
        if n_boot:
            bootstrap(fit, X, y, n=n_boot)
        if args.holdout_largest:
            fit.holdout = holdout_largest(fit.form, X, y)
    except RuntimeError as err:  # no start converged: say so, no traceback
        raise ValueError(str(err)) from None
    out = fit.to_json()
    if args.json:
        print(json.dumps(out, indent=1, default=float))
        return 0
    print(f"{fit.form} fit to {fit.n_points} points (objective {fit.objective:.4g}, BIC {fit.bic:.1f}, "
          f"AICc {fit.aicc:.1f})")  # fmt: skip
    for name, value in {**fit.params, **fit.derived}.items():
        ci = fit.ci.get(name)
        print(f"  {name:14s} {value:.6g}" + (f"   95% CI [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""))
    for key in ("evidence", "holdout"):
        if out.get(key):
            print(f"{key}: {json.dumps(out[key], default=float)}")
    return 0


def _n_eval(table, flag: str | None):
    """--n-eval: a column of evaluation-example counts, or one count for every row."""
    from analysis.checks import count, counts

    if flag is None:
        return None
    if flag in table.columns:
        (values,) = _columns(table, [flag])
        return counts(f"--n-eval column {flag!r}", values, 1, table.index)
    try:
        value = float(flag)
    except ValueError:
        raise ValueError(f"--n-eval {flag!r}: not a column of the table nor a count of examples") from None
    return count("--n-eval (evaluation examples per point)", value, minimum=1)


def cmd_transition(args: argparse.Namespace) -> int:
    """Fit accuracy against loss: threshold, width, floor, ceiling, and transition or not."""
    import json

    from analysis.checks import count, within
    from analysis.transitions import fit_transition

    n_boot = count("--bootstrap", args.bootstrap)
    table = _table(args)
    loss, acc = _columns(table, [args.loss, args.acc])
    within(f"column {args.acc!r}", acc, 0.0, 1.0, "accuracies", table.index)
    result = fit_transition(loss, acc, n_eval=_n_eval(table, args.n_eval), n_boot=n_boot)
    out = result.to_json()
    if args.json:
        print(json.dumps(out, indent=1, default=float))
        return 0
    ci = result.threshold_ci
    print(f"{'transition' if result.transition else 'no sharp transition'}: threshold {result.threshold:.4g}"
          + (f" (95% CI {ci[0]:.4g}..{ci[1]:.4g})" if ci else "")
          + f", width {result.width:.3g}, floor {result.floor:.3f}, ceiling {result.ceiling:.3f}, "
          f"delta BIC {result.delta_bic:.1f}, 10-90% width / range {result.sharpness:.3f}")  # fmt: skip
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print one held-out example of a run, the model's greedy answer and whether it is right."""
    from search_scaling.loader import inspect_example, load_run

    stores = _stores(args, create=False)
    ablate = [_ablation(text) for text in args.ablate]
    print(inspect_example(load_run(stores, args.run_hash, args.step), args.example, args.set, ablate))
    return 0


def _ablation(text: str) -> dict:
    """``--ablate``'s value: a hook name (zero ablation) or a YAML mapping (an `interventions` entry)."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"--ablate {text!r}: a hook name or a YAML mapping such as '{{hook: "
                         f"blocks.0.hook_attn_out, op: zero}}' ({err})") from None  # fmt: skip
    return {"hook": value, "op": "zero"} if isinstance(value, str) else value


def cmd_report(args: argparse.Namespace) -> int:
    """Write a sweep's report: index.html, PNG plots and fits.json."""
    from analysis.report import build_report
    from search_scaling.store import Stores

    store = Stores.locate(args.store, create=False)  # --store, $SEARCH_SCALING_STORE or ./runs
    out = args.out or report_dir(store, args.sweep)
    if args.sweep.endswith("-tune"):
        return _tuning_report(store, args.sweep, Path(out), args)
    from search_scaling.store.export import report_warning

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


def cmd_export(args: argparse.Namespace) -> int:
    """Copy one sweep's runs and curves into a compact store that `report --store` rebuilds from."""
    from search_scaling.store import Stores
    from search_scaling.store.export import export_sweep, ledger_if_any

    stores = Stores.resolve(args.store, mlflow=False, create=False)
    done = export_sweep(stores.root, args.sweep, args.out, ledger_if_any(stores), args.allow_unfinished)
    if done["unfinished"]:
        print(f"warning: {len(done['unfinished'])} unfinished cell(s) exported as they stand "
              "(--allow-unfinished)", file=sys.stderr)  # fmt: skip
    print(f"exported {done['runs']} runs, {done['curve_rows']:,} curve rows ({done['bytes'] / 1e6:.2f} MB) "
          f"to {done['out']}")  # fmt: skip
    return 0


def _tuning_report(store: str, sweep: str, out: Path, args: argparse.Namespace) -> int:
    """The report of a hyperparameter search, from what `tune` saved beside the store."""
    import json

    from analysis.tuning import best_per_group, lr_law, trial_table, write_tuning_report
    from search_scaling.store import Stores
    from search_scaling.sweep.tune import SUFFIX, meta_path

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


def main(argv: list[str] | None = None) -> int:
    from search_scaling.sweep.ray_exit import shutdown_ray

    args = build_parser().parse_args(argv)
    try:
        rc = COMMANDS[args.command](args)
    except ValueError as err:  # user-caused errors: one clear line, no traceback, no password
        from search_scaling.store.locations import redact

        print(f"search-scaling {args.command}: error: {redact(str(err))}", file=sys.stderr)
        rc = 2
    return shutdown_ray(rc)  # here, not in Ray's atexit hook, where Ctrl-C printed a traceback


COMMANDS = {"maze": cmd_maze, "train": cmd_train, "validate": cmd_validate, "sweep": cmd_sweep,
            "tune": cmd_tune, "submit": cmd_submit, "status": cmd_status, "demo": cmd_demo, "fit": cmd_fit,
            "transition": cmd_transition, "inspect": cmd_inspect, "report": cmd_report,
            "export": cmd_export,
            "mlflow-sync": cmd_mlflow_sync, "ui": cmd_ui}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
