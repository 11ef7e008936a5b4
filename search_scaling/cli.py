"""`search-scaling` command line: thin views over the library's typed entry points.

This module only dispatches: the arguments are in `cli_parser`, each command in `commands/`
(`tasks`: maze; `train`; `validate`; `sweeps`: sweep, demo, tune, submit, status, sweeps; `tables`:
fit, transition; `reports`: report; `stores`: inspect, export, mlflow-sync) and `ui`. A command's
module is imported when it runs, so that its first line comes before the heavy imports."""

from __future__ import annotations

import importlib
import sys

from search_scaling.cli_parser import build_parser

__all__ = ["build_parser", "command", "main"]  # and, on first use, those of _ELSEWHERE

COMMANDS = {"maze": "tasks:cmd_maze", "train": "train:cmd_train", "validate": "validate:cmd_validate",
            "sweep": "sweeps:cmd_sweep", "tune": "sweeps:cmd_tune", "submit": "sweeps:cmd_submit",
            "status": "sweeps:cmd_status", "sweeps": "sweeps:cmd_sweeps", "demo": "sweeps:cmd_demo",
            "fit": "tables:cmd_fit", "transition": "tables:cmd_transition", "inspect": "stores:cmd_inspect",
            "report": "reports:cmd_report", "export": "stores:cmd_export",
            "mlflow-sync": "stores:cmd_mlflow_sync", "ui": "search_scaling.ui:cmd_ui"}  # fmt: skip
_ELSEWHERE = {"submission": "sweeps", "SUBMIT_EXCLUDES": "sweeps", "ui_command": "search_scaling.ui"}


def command(name: str):
    """The function that runs command ``name``, its module imported now."""
    module, _, function = COMMANDS[name].partition(":")
    return getattr(_module(module), function)


def _module(name: str):
    return importlib.import_module(name if "." in name else f"search_scaling.commands.{name}")


def __getattr__(name: str):  # what tests and scripts import from here, without importing every command
    if name in _ELSEWHERE:
        return getattr(_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module 'search_scaling.cli' has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # a bare `search-scaling`: what it can do, not an error
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    try:
        rc = command(args.command)(args)
    except ValueError as err:  # user-caused errors: one clear line, no traceback, no password
        from search_scaling.store.locations import redact

        print(f"search-scaling {args.command}: error: {redact(str(err))}", file=sys.stderr)
        rc = 2
    from search_scaling.sweep.ray_exit import shutdown_ray

    return shutdown_ray(rc)  # here, not in Ray's atexit hook, where Ctrl-C printed a traceback


if __name__ == "__main__":
    sys.exit(main())
