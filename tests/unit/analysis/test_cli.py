"""`search-scaling fit` and `transition` on the shared published tables, as a new user calls them."""

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
