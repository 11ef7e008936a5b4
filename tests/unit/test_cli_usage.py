"""The command line as a newcomer meets it: every flag and positional explains itself, `--version`
says which code runs, store flags only where they mean something, misuse is one line naming the
flag and what is allowed, read-only commands create nothing, and `validate` warns about budgets
too small to be useful."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from dataclasses import fields

import pytest
import yaml

from search_scaling.cli import build_parser, main
from search_scaling.cli_parser import STORE_FLAGS

CLI = [sys.executable, "-m", "search_scaling.cli"]


def _commands() -> dict[str, argparse.ArgumentParser]:
    return build_parser()._subparsers._group_actions[0].choices


def test_every_flag_and_positional_has_help_and_shows_its_default():
    for name, parser in _commands().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and len(action.help) > 8, f"{name} {action.dest}: no help text"
            default = action.default
            if action.option_strings and default not in (None, False, [], argparse.SUPPRESS):
                shown = parser.formatter_class("x")._get_help_string(action) % {"default": default}
                assert "default" in shown, f"{name} {action.option_strings}: default {default!r} not shown"


def test_train_help_states_the_run_spec_defaults():
    """`train` leaves unset fields to RunSpec; the defaults its help states are RunSpec's."""
    from search_scaling.training.spec import RunSpec

    helps = {a.dest: a.help for a in _commands()["train"]._actions}
    defaults = {f.name: f.default for f in fields(RunSpec)}
    for dest in ("seed", "batch_size", "lr", "loss_mask", "eval_points", "eval_examples", "precision",
                 "keep_checkpoints", "progress"):  # fmt: skip
        value = f"{defaults[dest]:g}" if isinstance(defaults[dest], float) else str(defaults[dest])
        assert f"default: {value})" in helps[dest], (dest, helps[dest], value)


def test_store_flags_only_where_they_mean_something():
    for name, parser in _commands().items():
        flags = {s for a in parser._actions for s in a.option_strings}
        wanted = STORE_FLAGS.get(name, ())
        if name in ("report", "submit"):  # their own, documented flags
            continue
        assert ("--no-mlflow" in flags) == ("no_mlflow" in wanted), name
        assert ("--ledger-url" in flags) == ("ledger" in wanted), name
        assert ("--tracking-uri" in flags) == ("tracking" in wanted), name


def test_version_names_the_package_and_the_commit():
    done = subprocess.run([*CLI, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("search-scaling 0.")
    assert "(commit " in done.stdout and len(done.stdout.split("(commit ")[1].rstrip(")\n")) == 40


@pytest.mark.parametrize(
    "argv, words",
    [
        (
            ["ui", "--no-mlflow"],
            "unrecognized arguments: --no-mlflow (ui takes --host, --port, --store, --tracking-uri;",
        ),
        (
            ["status", "smoke", "--no-mlflow"],
            "unrecognized arguments: --no-mlflow (status takes --store, --ledger-url;",
        ),
        (
            ["mlflow-sync", "--no-mlflow"],
            "unrecognized arguments: --no-mlflow (mlflow-sync takes --sweep, --store, ",
        ),
        (["ui", "--port", "abc"], "argument --port: invalid int value: 'abc'"),
        (
            ["fit", "t.csv", "--x", "a", "--y", "b", "--form", "cubic"],
            "argument --form: invalid choice: 'cubic'",
        ),
    ],
)
def test_misuse_is_one_line_naming_the_flag_and_what_is_allowed(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and words in err, err
    assert err.startswith(f"search-scaling {argv[0]}: error: ")


def test_read_only_commands_on_an_empty_folder_create_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEARCH_SCALING_STORE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    empty = tmp_path / "store"
    empty.mkdir()
    for argv in (["status", "smoke"], ["mlflow-sync"], ["ui"], ["inspect", "abc"], ["report", "smoke"]):
        assert main(argv) == 2, argv  # no ./runs: one error
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"no store at '{tmp_path / 'runs'}'" in err, err
    assert main(["status", "smoke", "--store", str(empty)]) == 2  # a store without the sweep
    assert main(["ui", "--store", str(empty)]) == 2  # no mlflow.db: says how to get one, creates none
    err = capsys.readouterr().err
    assert f"no MLflow database at {empty / 'mlflow.db'}" in err and "mlflow-sync --store" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["store"]


def test_ui_on_a_busy_port_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "mlflow.db").touch()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert main(["ui", "--store", str(tmp_path), "--port", str(port)]) == 2
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_validate_warns_about_cells_with_too_few_steps(tmp_path, capsys):
    spec = {"name": "short", "tasks": [{"task": "maze", "sizes": [3, 4]}], "models": ["L1-D8", "L2-D16"],
            "training": {"eval_points": 32, "batch_size": 128},
            "budget": {"tokens_per_param": 60}}  # fmt: skip
    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert any(w.startswith("warning: L1-D8 trains only ") and "grid_n 3-4, 2 cell(s)" in w
               and "fewer than eval_points 32" in w for w in warnings), out  # fmt: skip
    assert any("warm-up 0.02 x steps is under one step" in w for w in warnings), out
    assert not any("L2-D16" in w and "eval_points" in w for w in warnings), out  # 60 x 6,592 tokens: enough
