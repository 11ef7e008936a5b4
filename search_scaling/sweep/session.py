"""`search-scaling sweep` (and `demo`) as a person meets it: the live display, third-party messages
sent to a log file, the cells table, a summary in words, the report written and logged to MLflow,
and the commands that open the report and the MLflow UI."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from search_scaling.store.locations import redact

UI_PORT = 5000


def run_session(sweep, stores, address: str | None = None, report: bool = True, n_boot: int = 200,
                console=None) -> int:  # fmt: skip
    """Run ``sweep`` with its display; returns the exit code (0 when every cell finished)."""
    from search_scaling.sweep.logs import log_path, stderr_to
    from search_scaling.sweep.progress import SweepDisplay, make_console, summary_table, summary_words
    from search_scaling.sweep.runner import run_sweep
    from search_scaling.sweep.state import SweepState

    console = console or make_console()
    state, log = SweepState(sweep), log_path(stores.root, sweep.name)
    console.print(
        f"sweep {sweep.name}: {len(sweep.cells)} cells -> store {redact(stores.root)}", markup=False
    )
    console.print(f"log: {log}  (messages of Ray, MLflow and other libraries)", markup=False, soft_wrap=True)
    try:
        with stderr_to(log), SweepDisplay(console) as display:
            counts = run_sweep(sweep, stores, address, display, state)
    except KeyboardInterrupt:
        counts = dict(stores.ledger.counts(sweep.run_hashes))
        print(f"\ninterrupted: cells in flight released (ledger: failed, 'interrupted'); "
              f"{_counts_words(counts)}; the same command resumes", file=sys.stderr)  # fmt: skip
        return 130
    runs = stores.parquet.runs(sweep=sweep.name)
    console.print(summary_table(runs[runs["run_hash"].isin(sweep.run_hashes)]))  # this spec's cells only
    console.print(summary_words(state), markup=False, highlight=False)
    failed = print_failures(stores, sweep.run_hashes)
    corrupt = _corrupt_finished(stores, sweep)
    if report:  # fits with bootstrap intervals: seconds to minutes, said before they start
        console.print(f"writing the report ({n_boot} bootstrap resamples) ...", markup=False, highlight=False)
    for line in _next_steps(sweep, stores, state, report, n_boot):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    unfinished = sum(n for status, n in counts.items() if status not in ("done", "diverged"))
    return 0 if unfinished == 0 and not failed and not corrupt else 1


def _corrupt_finished(stores, sweep) -> int:
    """Name (stderr) the finished cells whose curve parts do not read back; returns how many parts."""
    from search_scaling.sweep.preflight import corrupt_finished

    done = [h for h, s in stores.ledger.statuses(sweep.run_hashes).items() if s == "done"]
    lines = corrupt_finished(stores, sweep, done)
    for line in lines:
        print(line, file=sys.stderr)
    return max(0, len(lines) - 1)


def _counts_words(counts: dict) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no cells"


def print_failures(stores, run_hashes: list[str]) -> int:
    """Print each failed cell with its recorded error (stderr); returns how many failed."""
    errors = stores.ledger.errors(run_hashes)
    for run_hash, error in errors.items():
        print(f"failed {run_hash}: {error}", file=sys.stderr)
    return len(errors)


def _next_steps(sweep, stores, state, report: bool, n_boot: int) -> list[str]:
    lines = []
    if report:
        lines += write_report(stores, sweep.name, n_boot)
    else:
        lines.append(f"report: not written (--no-report); write it with: {program()} report {sweep.name}"
                     f"{_store_flag(stores)}")  # fmt: skip
    lines.append(mlflow_line(stores, state.experiment_id))
    return lines


def write_report(stores, sweep: str, n_boot: int = 200) -> list[str]:
    """Write the sweep's report beside the store and log it to the sweep's MLflow parent run;
    lines saying where it is and how to open it (a report that cannot be written is one line)."""
    from analysis.report import build_report

    out = report_dir(stores.root, sweep)
    try:
        fits = build_report(stores.root, sweep, out, n_boot=n_boot)
    except Exception as err:  # noqa: BLE001 -- the sweep finished; the report is a view of it
        return [f"report: not written ({type(err).__name__}: {err}); try: {program()} report {sweep}"
                f"{_store_flag(stores)}"]  # fmt: skip
    page = (out / "index.html").resolve()
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    findings = [f"- {line}" for line in fits["findings"]]  # one bullet per question, as `report` prints them
    return [*findings, f"report: {page}", f"  open it: {opener} {page}",
            log_report(stores.mirror if stores.tracking_uri else None, sweep, out)]  # fmt: skip


def report_dir(store: str, sweep: str) -> Path:
    base = Path(store) if "://" not in store else Path.cwd()  # a remote store: the report goes here
    return base / "reports" / sweep


def log_report(mirror, sweep: str, out: Path) -> str:
    """Log the report to the sweep's MLflow parent run; one line saying what happened."""
    from search_scaling.store.mirror import MirrorUnavailable

    if mirror is None:
        return "MLflow: no tracking database for this store; the report was not logged there"
    try:
        run_id = mirror.log_report(sweep, out)
    except MirrorUnavailable as err:  # already redacted
        return f"MLflow unavailable ({err}); the report was not logged there"
    return f"MLflow: report logged as artifacts of the sweep's parent run {run_id} (report/)"


def mlflow_line(stores, experiment_id: str | None) -> str:
    """How to browse the sweep in MLflow: the UI command and the page to open."""
    from search_scaling.store.sweep_run import RUNS_VIEW

    uri = stores.tracking_uri
    if uri is None:
        return f"MLflow: off (--no-mlflow); `{program()} mlflow-sync{_store_flag(stores)}` fills it later"
    page = f"#/experiments/{experiment_id}/{RUNS_VIEW}" if experiment_id else ""
    if uri.startswith(("http://", "https://")):
        return f"MLflow: {redact(uri).rstrip('/')}/{page}"
    default = stores.local and uri == f"sqlite:///{Path(stores.root) / 'mlflow.db'}"
    flag = _store_flag(stores) if default else " --tracking-uri " + redact(uri)
    return f"MLflow: {program()} ui{flag}   then open http://127.0.0.1:{UI_PORT}/{page}"


def _store_flag(stores) -> str:
    return f" --store {redact(stores.root)}"


def program() -> str:
    """How to call this command again: `search-scaling` when that is what the shell finds,
    else the virtualenv's own script (a venv that is not activated), else `python -m`."""
    here = Path(sys.executable).parent / "search-scaling"
    found = shutil.which("search-scaling")
    if found and Path(found).resolve() == here.resolve():
        return "search-scaling"
    if here.exists():
        return str(here)
    return f"{sys.executable} -m search_scaling.cli"
