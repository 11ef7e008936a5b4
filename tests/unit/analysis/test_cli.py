"""`search-scaling fit` and `transition` on the published tables (tests/data/published), as a new
user calls them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "search_scaling.cli"]


def run(*args) -> dict:
    done = subprocess.run([*CLI, *map(str, args), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_fit_chinchilla_from_the_csv(published):
    derive = "D = `Training FLOP` / (6 * `Model Size`)"
    out = run("fit", published / "chinchilla_svg_extracted.csv", "--eval", derive,
              "--x", "Model Size", "--x2", "D", "--y", "loss", "--form", "chinchilla", "--drop-highest", "5",
              "--bootstrap", "20")  # fmt: skip
    assert out["form"] == "chinchilla" and out["n_points"] == 240
    assert set(out["params"]) == {"E", "A", "B", "alpha", "beta"} and set(out["ci"]) >= {"E", "alpha", "beta"}
    assert round(out["params"]["alpha"], 3) == 0.347 and "objective" in out


def test_fit_auto_on_bnsl_data_reports_evidence_and_the_break(published):
    out = run("fit", published / "bnsl_4digit_addition.csv", "--x", "training_dataset_size", "--y",
              "test_cross_entropy", "--form", "auto")  # fmt: skip
    assert out["form"].startswith("bnsl") and set(out["evidence"]) >= {"power", "saturating", "bnsl"}
    assert 500 < out["break"]["d1"] < 700


def test_transition_on_gadre(published):
    table = published / "gadre2024_openlm_loss_downstream.csv"
    out = run("transition", table, "--loss", "loss_c4_val", "--acc", "acc_pubmed_qa_labeled",
              "--n-eval", "1000", "--bootstrap", "20")  # fmt: skip
    assert out["transition"] is True and out["threshold"] == pytest.approx(4.2, abs=0.15)
    assert {"threshold_ci", "width", "floor", "ceiling", "statistic"} <= set(out)


def test_bad_columns_get_one_clear_error(published):
    cmd = [*CLI, "fit", str(published / "bnsl_4digit_addition.csv"), "--x", "size", "--y", "loss"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "column(s) ['size', 'loss'] not in the table" in done.stderr
    assert "Traceback" not in done.stderr


# -- nonsense tables and flags: one clear error naming the column or flag, before any fit -------------
def _table(tmp_path, acc_edit=None, loss_edit=None):
    import numpy as np
    import pandas as pd

    loss = np.linspace(2.0, 4.0, 12)
    table = pd.DataFrame({"loss": loss, "acc": 1 / (1 + np.exp((loss - 3.0) / 0.1)), "n": 500})
    for column, edit in (("acc", acc_edit), ("loss", loss_edit)):
        if edit:
            table.loc[edit[0], column] = edit[1]
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "command, edits, words",
    [
        (
            ["transition", "--n-eval", "500"],
            {"acc_edit": (3, 1.7)},
            "column 'acc': accuracies must be in [0, 1], got 4.53979e-05..1.7 (row 3)",
        ),
        (["transition", "--n-eval", "-5"], {}, "--n-eval (evaluation examples per point): a whole number"),
        (["transition", "--n-eval", "abc"], {}, "--n-eval 'abc': not a column of the table nor a count"),
        (["transition", "--n-eval", "n"], {}, None),  # a column of counts: fine
        (
            ["transition"],
            {"acc_edit": (4, float("nan"))},
            "column 'acc': 1 of 12 values are NaN, missing or infinite (row 4)",
        ),
        (["transition", "--bootstrap", "-3"], {}, "--bootstrap: a whole number >= 0, got -3"),
        (["fit", "--x", "loss", "--y", "acc", "--bootstrap", "-3"], {}, "--bootstrap: a whole number >= 0"),
        (["fit", "--x", "loss", "--y", "acc"], {"loss_edit": (2, float("nan"))}, "column 'loss': 1 of 12"),
        (
            ["fit", "--x", "loss", "--y", "acc", "--eval", "D = nope * 2"],
            {},
            "--eval 'D = nope * 2': UndefinedVariableError",
        ),
        (["fit", "--x", "loss", "--y", "acc", "--eval", "x = ("], {}, "--eval 'x = (': "),
        (["fit", "--x", "loss", "--y", "acc", "--drop-highest", "-2"], {}, "--drop-highest: a whole number"),
    ],
)
def test_nonsense_gets_one_clear_error(tmp_path, capsys, command, edits, words):
    from search_scaling.cli import main

    table = _table(tmp_path, **edits)
    flags = [] if command[0] == "fit" else ["--loss", "loss", "--acc", "acc", "--bootstrap", "0"]
    rc = main([command[0], str(table), *flags, *command[1:], "--json"])
    err = capsys.readouterr().err
    if words is None:
        assert rc == 0, err
    else:
        assert rc == 2 and err.startswith(f"search-scaling {command[0]}: error: ") and words in err, err
