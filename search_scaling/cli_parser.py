"""The `search-scaling` command line's arguments: every flag and positional with its help text and
default, store flags only on the commands they mean something to, and misuse answered in one line
that names the flag and what is allowed (`Parser.error`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from search_scaling.tasks.base import LOSS_MODES

DEFAULT_CACHE = Path(".cache/datasets")
FORMS = ("power", "saturating", "chinchilla", "bnsl", "bnsl2", "auto")
# Which stores each command reads or writes; the others do not take the flag.
STORE_FLAGS = {
    "train": ("store", "ledger", "tracking", "no_mlflow"),
    "sweep": ("store", "ledger", "tracking", "no_mlflow"),
    "tune": ("store", "ledger", "tracking", "no_mlflow"),
    "demo": ("store", "ledger", "tracking", "no_mlflow"),
    "validate": ("store",),  # read only where an init_from selector names another sweep's cells
    "status": ("store", "ledger"),
    "sweeps": ("store", "ledger"),
    "inspect": ("store",),
    "export": ("store",),
    "mlflow-sync": ("store", "tracking"),
    "ui": ("store", "tracking"),
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default unless it has none worth showing (None, False, an empty list)."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "%(default)" in text or "default" in text or default in (None, False, [], argparse.SUPPRESS):
            return text
        if action.option_strings or action.nargs in ("?", "*"):
            return f"{text} (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """argparse that answers a misuse in one line: ``search-scaling ui: error: unrecognized
    arguments: --no-mlflow (ui takes --store, --tracking-uri, --host, --port)``."""

    def parse_args(self, args=None, namespace=None):
        known, extras = self.parse_known_args(args, namespace)
        if extras:  # said by the command's own parser, which knows the flags it takes
            subs = [a for a in self._actions if isinstance(a, argparse._SubParsersAction)]
            command = subs[0].choices.get(getattr(known, "command", None)) if subs else None
            (command or self).error(f"unrecognized arguments: {' '.join(extras)}")
        return known

    def error(self, message: str):
        if message.startswith("unrecognized arguments"):
            flags = [s for a in self._actions for s in a.option_strings if s.startswith("--")]
            flags = [f for f in flags if f not in ("--help", "--version")]
            name = self.prog.split()[-1]
            message += f" ({name} takes {', '.join(flags) or 'no flags'}; see {self.prog} --help)"
        self.exit(2, f"{self.prog}: error: {message}\n")


class Version(argparse.Action):
    """``--version``: the package version and git commit, looked up only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from search_scaling.version import code_version, git_commit

        commit = git_commit()
        print(f"search-scaling {code_version()}" + (f" (commit {commit})" if commit else ""))
        parser.exit(0)


def _add(sub, name: str, help_: str, description: str | None = None) -> Parser:
    return sub.add_parser(name, help=help_, description=description or help_, formatter_class=HelpFormatter)


def add_store_args(p: argparse.ArgumentParser, command: str) -> None:
    wanted = STORE_FLAGS[command]
    if "store" in wanted:
        p.add_argument("--store", metavar="ROOT", help="Parquet store root: a directory, file:///abs/path "
                       "or a pyarrow URI such as s3://bucket/prefix "
                       "(default: $SEARCH_SCALING_STORE, else ./runs)")  # fmt: skip
    if "ledger" in wanted:
        p.add_argument("--ledger-url", metavar="URL", help="SQLAlchemy URL of the run ledger, e.g. "
                       "postgresql://user@host/db "
                       "(default: $SEARCH_SCALING_LEDGER_URL, else SQLite in the store)")  # fmt: skip
    if "tracking" in wanted:
        p.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI: a server http://... or "
                       "a database (default: $MLFLOW_TRACKING_URI, else SQLite in the store)")  # fmt: skip
    if "no_mlflow" in wanted:
        p.add_argument("--no-mlflow", action="store_true", help="do not mirror to MLflow (the Parquet store "
                       "stays complete; `mlflow-sync` backfills later)")  # fmt: skip


def _maze(sub) -> None:
    from search_scaling.tasks.maze.config import ADJ_ORDERS, ENDPOINTS, GENERATORS

    p = _add(sub, "maze", "generate, solve, tokenize and show mazes")
    p.add_argument("--grid-n", type=int, default=5, metavar="N", help="grid side (2..64)")
    p.add_argument("--generator", choices=GENERATORS, default="dfs", help="maze generator")
    p.add_argument("--p", type=float, default=0.0, help="extra-wall opening probability (percolation)")
    p.add_argument("--endpoints", choices=ENDPOINTS, default="any", help="how origin and target are drawn")
    p.add_argument("--min-path-len", type=int, default=1, metavar="N", help="shortest allowed path, in cells")
    p.add_argument("--adj-order", choices=ADJ_ORDERS, default="shuffled", help="order of the adjacency list")
    p.add_argument("--n", type=int, default=1000, help="number of mazes")
    p.add_argument("--seed", type=int, default=0, help="dataset seed")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="processes generating in parallel")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, metavar="DIR", help="dataset cache directory")
    p.add_argument("--show", type=int, default=2, metavar="N", help="render this many mazes")


def _train(sub) -> None:
    p = _add(sub, "train", "train and evaluate one run (resumes if its checkpoint exists)")
    p.add_argument("--task", default="maze", help="task name (maze, maze_target, parity, d3, induction, ...)")
    p.add_argument("--size", type=int, default=5, help="problem size (grid_n for mazes)")
    p.add_argument("--model", default="L2-D32", help="a size-family name, L<layers>-D<width>")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--steps", type=int, help="training budget in optimizer steps (or --tokens)")
    budget.add_argument("--tokens", type=int, help="training budget in real (non-padding) tokens")
    p.add_argument("--seed", type=int, help="run seed (default: 0)")
    p.add_argument("--batch-size", type=int, metavar="N", help="examples per step (default: 64)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: 0.003)")
    p.add_argument(
        "--loss-mask", choices=LOSS_MODES, help="which tokens the loss covers (default: answer_only)"
    )
    p.add_argument("--eval-points", type=int, metavar="N", help="log-spaced evaluation steps (default: 24)")
    p.add_argument("--eval-examples", type=int, metavar="N", help="held-out examples per evaluation "
                   "(default: 512)")  # fmt: skip
    p.add_argument("--precision", help="auto (bf16-mixed on GPU, else 32-true), 32-true or bf16-mixed "
                   "(default: auto)")  # fmt: skip
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="task option, repeatable, e.g. --option generator=wilson")  # fmt: skip
    p.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="model option, repeatable, e.g. --model-option positions=rotary")  # fmt: skip
    p.add_argument("--train-sampling", help="mix problem sizes in training: fixed, uniform or k2 "
                   "(default: fixed)")  # fmt: skip
    p.add_argument("--keep-checkpoints", help="keep weights in the store: none, final or log (default: none)")
    p.add_argument("--init-from", metavar="RUN_HASH[@STEP]", help="start from a run's kept weights")
    p.add_argument("--freeze", action="append", default=[], metavar="PART",
                   help="model part to freeze, repeatable: embed, unembed, attn, mlp, "
                   "blocks.<i>[.attn|.mlp]")  # fmt: skip
    p.add_argument("--progress", type=lambda v: int(v) if v.isdigit() else v,
                   help="progress measures: on, off, or k (every k-th evaluation) (default: on)")  # fmt: skip
    add_store_args(p, "train")


def _sweeps(sub) -> None:
    spec_help = "sweep spec, a YAML file such as sweeps/smoke.yaml"
    p = _add(sub, "validate", "check a sweep spec and list its cells (hash, sizes, steps, FLOPs)")
    p.add_argument("spec", type=Path, help=spec_help)
    add_store_args(p, "validate")
    address = "Ray cluster address (default: $RAY_ADDRESS, else a local Ray)"
    p = _add(
        sub, "sweep", "run a sweep spec on Ray (local, or the cluster of RAY_ADDRESS), then write its report"
    )
    p.add_argument("spec", type=Path, help=spec_help)
    p.add_argument("--address", help=address)
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--bootstrap", type=int, default=200, metavar="N", help="the report's bootstrap resamples")
    p.add_argument("--retrain", action="append", default=[], metavar="HASH",
                   help="train this finished cell again in place (its outputs are removed first; every "
                   "other cell is kept); repeatable")  # fmt: skip
    add_store_args(p, "sweep")
    p = _add(sub, "tune", "search the spec's tune: space on Ray Tune; writes <spec>.tuned.yaml")
    p.add_argument("spec", type=Path, help="sweep spec with a tune: section")
    p.add_argument("--address", help=address)
    p.add_argument("--tuned", type=Path, help="where to write the tuned spec (default: <spec>.tuned.yaml)")
    p.add_argument("--out", type=Path, help="the search's report (default: <store>/reports/<name>-tune)")
    p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Tune's progress table")
    add_store_args(p, "tune")
    p = _add(sub, "submit", "submit a sweep to a Ray cluster (ray job submission)")
    p.add_argument("spec", type=Path, help=spec_help)
    p.add_argument("--address", required=True, help="the job server, e.g. http://HEAD:8265")
    p.add_argument("--store", help="store root as the cluster sees it, e.g. s3://bucket/runs (default: the "
                   "cluster's $SEARCH_SCALING_STORE)")  # fmt: skip
    p.add_argument("--ledger-url", help="ledger URL as the cluster sees it (default: the cluster's own)")
    p.add_argument("--tracking-uri", help="MLflow URI as the cluster sees it (default: the cluster's own)")
    p = _add(sub, "status", "cells of a sweep: run hash, status, final loss and accuracy (reads the store)")
    p.add_argument("sweep", help="sweep name (the spec's name:; `search-scaling sweeps` lists them)")
    add_store_args(p, "status")
    p = _add(sub, "sweeps", "the sweeps in a store, with their runs (reads the store; creates nothing)")
    add_store_args(p, "sweeps")
    p = _add(sub, "demo", "the laptop sweep and its report (what `make demo` runs)")
    p.add_argument("--spec", type=Path, default=Path(__file__).resolve().parents[1] / "sweeps" / "smoke.yaml",
                   help="sweep spec (default: sweeps/smoke.yaml of this project)")  # fmt: skip
    p.add_argument("--bootstrap", type=int, default=200, metavar="N", help="the report's bootstrap resamples")
    add_store_args(p, "demo")


def _tables(sub) -> None:
    def table_args(p) -> None:
        p.add_argument("table", help="CSV or Parquet file (or a Parquet directory)")
        p.add_argument("--eval", action="append", default=[], metavar="EXPR",
                       help="add a column first, "
                       "e.g. \"D = `Training FLOP` / (6 * `Model Size`)\"")  # fmt: skip
        p.add_argument("--drop-highest", type=int, default=0, metavar="N",
                       help="drop the N rows with the highest y (fit) or loss (transition)")  # fmt: skip
        p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = _add(sub, "fit", "fit a scaling law to a table")
    table_args(p)
    p.add_argument("--x", required=True, help="column of the input (e.g. parameters N)")
    p.add_argument("--x2", help="second input column (tokens D for --form chinchilla)")
    p.add_argument("--y", required=True, help="column to fit (e.g. loss)")
    p.add_argument("--form", choices=FORMS, default="auto",
                   help="functional form; auto: the simplest within 2 AICc of the best")  # fmt: skip
    p.add_argument("--bootstrap", type=int, default=0, metavar="N", help="resamples for 95%% intervals")
    p.add_argument("--holdout-largest", action="store_true", help="also fit without the largest x and "
                   "report the extrapolation error")  # fmt: skip
    p = _add(sub, "transition", "accuracy vs loss: is there a sharp transition?")
    table_args(p)
    p.add_argument("--loss", required=True, help="column of the loss")
    p.add_argument("--acc", required=True, help="column of the accuracy, in [0, 1]")
    p.add_argument("--n-eval", help="evaluation examples per point: a number or a column")
    p.add_argument("--bootstrap", type=int, default=200, metavar="N", help="resamples for the threshold's CI")


def _stores_and_views(sub) -> None:
    p = _add(sub, "inspect", "a held-out example, the model's answer, right or not")
    p.add_argument("run_hash", help="the run's hash, or any unique start of it such as the 6 characters "
                   "that end its MLflow run name (`status SWEEP` lists them)")  # fmt: skip
    p.add_argument("--step", type=int, help="a kept step (default: the last one kept)")
    p.add_argument("--example", type=int, default=0, metavar="I", help="index in the held-out set")
    p.add_argument("--set", metavar="NAME", help="a named eval set of the run (default: held-out)")
    p.add_argument("--ablate", action="append", default=[], metavar="HOOK|YAML",
                   help="answer with this ablation: a hook name (zeroed) or an entry such as "
                   "'{hook: blocks.0.attn.hook_z, op: mean, heads: [1]}' (repeatable)")  # fmt: skip
    add_store_args(p, "inspect")
    p = _add(sub, "report", "write a sweep's report (HTML, plots, fits.json)")
    p.add_argument("sweep", help="sweep name (the spec's name:; <name>-tune for a search)")
    p.add_argument("--store", metavar="ROOT", help="store root: a directory, file:///abs/path or s3://... "
                   "(default: $SEARCH_SCALING_STORE, else ./runs)")  # fmt: skip
    p.add_argument("--out", type=Path, help="where to write it (default: <store>/reports/<sweep>, or "
                   "./reports/<sweep> for a remote store)")  # fmt: skip
    p.add_argument("--bootstrap", type=int, default=200, metavar="N", help="resamples for 95%% intervals")
    p.add_argument(
        "--tracking-uri", metavar="URI", help="MLflow to log the report to (default: the sweep's own)"
    )
    p.add_argument("--no-mlflow", action="store_true", help="do not log the report to MLflow")
    p = _add(sub, "export", "copy one sweep's runs and curves into a compact store (no weights) to commit")
    p.add_argument("sweep", help="sweep name (the spec's name:)")
    p.add_argument("--out", required=True,
                   help="the new store's folder (or URI); `report --store OUT` reads it")  # fmt: skip
    p.add_argument("--allow-unfinished", action="store_true",
                   help="export cells still running or pending as they stand (else refused)")  # fmt: skip
    add_store_args(p, "export")
    p = _add(sub, "mlflow-sync", "backfill MLflow from the Parquet store")
    p.add_argument("--sweep", help="only this sweep (default: every sweep in the store)")
    add_store_args(p, "mlflow-sync")
    p = _add(sub, "ui", "the MLflow UI on this store: a light one-user server (binds 127.0.0.1)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind; another host exposes the UI")
    p.add_argument("--port", type=int, default=5000, help="port to listen on")
    add_store_args(p, "ui")


def build_parser() -> Parser:
    parser = Parser(prog="search-scaling", formatter_class=HelpFormatter,
                    description="Scaling laws of search: train grids of small transformers, fit laws, "
                    "find phase transitions. `search-scaling COMMAND --help` for a command's "
                    "flags.")  # fmt: skip
    parser.add_argument("--version", action=Version, help="print the version and git commit, then exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser,
                                help="what to do (each takes --help)")  # fmt: skip
    for add in (_maze, _train, _sweeps, _tables, _stores_and_views):
        add(sub)
    return parser


def usage_error(command: str, message: str) -> int:
    print(f"search-scaling {command}: error: {message}", file=sys.stderr)
    return 2
