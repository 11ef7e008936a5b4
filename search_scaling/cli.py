"""`search-scaling` command line: thin views over the library's typed entry points.

This module only dispatches: the arguments are in `cli_parser`, each command in `commands/`
(`tasks`: maze; `train`; `validate`; `sweeps`: sweep, demo, tune, submit, status; `tables`: fit,
transition; `reports`: report; `stores`: inspect, export, mlflow-sync) and `ui`."""

from __future__ import annotations

import sys

from search_scaling.cli_parser import build_parser
from search_scaling.commands.reports import cmd_report
from search_scaling.commands.stores import cmd_export, cmd_inspect, cmd_mlflow_sync
from search_scaling.commands.sweeps import (
    SUBMIT_EXCLUDES,
    cmd_demo,
    cmd_status,
    cmd_submit,
    cmd_sweep,
    cmd_tune,
    submission,
)
from search_scaling.commands.tables import cmd_fit, cmd_transition
from search_scaling.commands.tasks import cmd_maze
from search_scaling.commands.train import cmd_train
from search_scaling.commands.validate import cmd_validate
from search_scaling.ui import cmd_ui, ui_command

__all__ = ["build_parser", "main", "submission", "ui_command", "SUBMIT_EXCLUDES"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ValueError as err:  # user-caused errors: one clear line, no traceback, no password
        from search_scaling.store.locations import redact

        print(f"search-scaling {args.command}: error: {redact(str(err))}", file=sys.stderr)
        return 2


COMMANDS = {"maze": cmd_maze, "train": cmd_train, "validate": cmd_validate, "sweep": cmd_sweep,
            "tune": cmd_tune, "submit": cmd_submit, "status": cmd_status, "demo": cmd_demo, "fit": cmd_fit,
            "transition": cmd_transition, "inspect": cmd_inspect, "report": cmd_report,
            "export": cmd_export,
            "mlflow-sync": cmd_mlflow_sync, "ui": cmd_ui}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
