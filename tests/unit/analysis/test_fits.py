"""Fits and transition detectors against published results and synthetic data with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.fit import bootstrap, fit_form, holdout_largest, select
from analysis.transitions import fit_transition, loss_break_across_scale, plateau_drop


def chinchilla(published):
    d = pd.read_csv(published / "chinchilla_svg_extracted.csv").sort_values("loss").iloc[:-5]  # Epoch drop 5
    n = d["Model Size"].to_numpy()
    return np.column_stack([n, d["Training FLOP"].to_numpy() / (6 * n)]), d["loss"].to_numpy()


def test_joint_law_reproduces_epochs_chinchilla_fit(published):
    X, y = chinchilla(published)
    assert len(y) == 240
    fit = fit_form("chinchilla", X, y)
    p = fit.params
    assert (round(p["E"], 2), round(p["alpha"], 3), round(p["beta"], 3)) == (1.82, 0.347, 0.367)
    assert p["A"] == pytest.approx(477.84, rel=0.01) and p["B"] == pytest.approx(2143.86, rel=0.01)
    assert fit.derived["a_N_exponent"] == pytest.approx(0.514, abs=0.002)


def test_chinchilla_bootstrap_intervals_are_close_to_epochs(published):
    X, y = chinchilla(published)
    fit = fit_form("chinchilla", X, y)
    bootstrap(fit, X, y, n=200, seed=1)
    # Epoch (4000 resamples): E [1.77, 1.87], alpha [0.317, 0.373], beta [0.331, 0.415]
    for name, (lo, hi) in {"E": (1.77, 1.87), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}.items():
        got = fit.ci[name]
        assert got[0] < fit.params[name] < got[1]
        assert got[0] == pytest.approx(lo, abs=0.03 * (1 + (name == "E"))) and got[1] == pytest.approx(
            hi, abs=0.03
        )


def test_bnsl_finds_the_4digit_addition_break_and_extrapolates_better(published):
    d = pd.read_csv(published / "bnsl_4digit_addition.csv")
    x, y = d["training_dataset_size"].to_numpy(), d["test_cross_entropy"].to_numpy()
    bnsl = fit_form("bnsl", x[:14], y[:14])
    assert 540 < bnsl.params["d1"] < 690  # published: near 613
    sat = fit_form("saturating", x[:14], y[:14])
    err = lambda f: np.mean(np.abs(np.log(f.predict(x[14:])) - np.log(y[14:])))  # noqa: E731
    assert err(bnsl) < 0.5 * err(sat)
    assert loss_break_across_scale(x, y)["verdict"] == "break"


def test_gadre_pubmed_qa_is_a_transition_and_lambada_is_not(published):
    d = pd.read_csv(published / "gadre2024_openlm_loss_downstream.csv")
    pubmed = fit_transition(d["loss_c4_val"], d["acc_pubmed_qa_labeled"], n_eval=1000, n_boot=30)
    assert pubmed.transition and pubmed.threshold == pytest.approx(4.2, abs=0.15)
    assert pubmed.threshold_ci[0] < pubmed.threshold < pubmed.threshold_ci[1]
    lambada = fit_transition(d["loss_c4_val"], d["acc_lambada_openai"], n_eval=5153)
    assert not lambada.transition and lambada.sharpness > 0.25


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_saturating_law_is_recovered(seed):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e3, 1e8, 30)
    y = (1.5 + 400 * x**-0.3) * np.exp(rng.normal(0, 0.01, len(x)))
    fit = fit_form("saturating", x, y)
    assert fit.params["alpha"] == pytest.approx(0.3, abs=0.03) and fit.params["E"] == pytest.approx(
        1.5, rel=0.05
    )
    evidence = select(x, y).evidence  # BNSL nests the saturating law, so it may tie or win on noise
    assert evidence["power"]["delta"] > 10 and evidence["saturating"]["weight"] > 1e-3


@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_joint_law_is_recovered(seed):
    rng = np.random.default_rng(seed)
    N = np.geomspace(1e6, 1e9, 12).repeat(8)
    D = np.tile(np.geomspace(1e8, 1e11, 8), 12)
    y = (1.7 + 300 * N**-0.32 + 900 * D**-0.28) * np.exp(rng.normal(0, 0.005, len(N)))
    p = fit_form("chinchilla", np.column_stack([N, D]), y).params
    assert p["alpha"] == pytest.approx(0.32, abs=0.03) and p["beta"] == pytest.approx(0.28, abs=0.03)


def test_power_law_holdout_and_group_bootstrap():
    rng = np.random.default_rng(3)
    x = np.repeat(np.geomspace(10, 1e5, 10), 3)
    y = 5 * x**-0.5 * np.exp(rng.normal(0, 0.02, len(x)))
    fit = fit_form("power", x, y)
    assert fit.params["alpha"] == pytest.approx(0.5, abs=0.02)
    bootstrap(fit, x, y, n=100, groups=np.arange(len(x)) // 3)
    assert fit.ci["alpha"][0] < 0.5 < fit.ci["alpha"][1]
    held = holdout_largest("power", x, y)
    assert held["n_test"] == 3 and held["rmse_log"] < 0.1 and held["covered"]


def test_smooth_synthetic_accuracy_is_not_a_transition_and_a_step_is():
    rng = np.random.default_rng(0)
    loss = np.linspace(1, 4, 40)
    smooth = np.clip(0.9 - 0.25 * (loss - 1), 0, 1)
    assert not fit_transition(loss, rng.binomial(500, smooth) / 500, n_eval=500).transition
    step = 0.05 + 0.85 / (1 + np.exp((loss - 2.5) / 0.05))
    found = fit_transition(loss, rng.binomial(500, step) / 500, n_eval=500)
    assert found.transition and found.threshold == pytest.approx(2.5, abs=0.1)


def test_plateau_then_drop_is_located_in_training_time():
    steps = np.unique(np.geomspace(1, 10_000, 40).astype(int))
    loss = np.where(steps < 800, 2.0, 2.0 - 0.6 * np.log(steps / 800)) + np.random.default_rng(0).normal(
        0, 0.01, len(steps)
    )
    found = plateau_drop(steps, loss)
    assert found["verdict"] == "drop" and 500 < found["step"] < 1300
    assert plateau_drop(steps, 3 - 0.2 * np.log(steps))["verdict"] == "smooth"


def test_bad_inputs_say_what():
    with pytest.raises(ValueError, match="positive x and y"):
        fit_form("power", [1, 2, 3, 4], [1, 0, 1, 1])
    with pytest.raises(ValueError, match="2 input column"):
        fit_form("chinchilla", [1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7])


def test_nonsense_inputs_are_refused_before_fitting():
    loss, acc = np.linspace(2, 4, 8), np.linspace(0.9, 0.1, 8)
    for y, n_eval, n_boot, words in [
        (acc + 1, None, 0, r"y: accuracies must be in \[0, 1\]"),
        (np.where(np.arange(8) == 2, np.nan, acc), None, 0, "y: 1 of 8 values are NaN"),
        (acc, -5, 0, "n_eval: whole numbers >= 1 expected, got -5"),
        (acc, None, -3, "n_boot: a whole number >= 0, got -3"),
    ]:
        with pytest.raises(ValueError, match=words):
            fit_transition(loss, y, n_eval=n_eval, n_boot=n_boot)
    with pytest.raises(ValueError, match="x: 1 of 8 values are NaN"):
        fit_form("power", np.where(np.arange(8) == 0, np.nan, loss), acc)
    fit = fit_form("power", loss, acc)
    with pytest.raises(ValueError, match="bootstrap resamples: a whole number >= 0, got -3"):
        bootstrap(fit, loss, acc, n=-3)
    with pytest.raises(ValueError, match="no form could be fitted: power: form 'power' has 2 parameters"):
        select([1.0, 2.0], [1.0, 0.5])


def _one_break_curve(seed: int):
    """16 points over 1e5..1e8, 2% noise, one break somewhere in 1e6..1e7."""
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e5, 1e8, 16)
    d = 10 ** rng.uniform(6.0, 7.0)
    y = 0.5 + 40 * x**-0.05 * (1 + (x / d) ** (1 / 0.2)) ** (-0.5 * 0.2)
    return x, y * np.exp(rng.normal(0, 0.02, len(x))), d


def test_auto_finds_one_break_inside_the_data_and_none_in_smooth_curves():
    located = 0
    for seed in range(6):
        x, y, d = _one_break_curve(seed)
        fit = select(x, y)
        p = fit.params
        assert fit.evidence["rule"]["criterion"] == "aicc"
        if fit.form.startswith("bnsl"):  # kept to its meaningful ranges, whatever it chose
            assert x.min() < p["d1"] < x.max() and p["c0"] >= 0 and p["c1"] >= 0
        located += fit.form == "bnsl" and abs(np.log10(p["d1"] / d)) < 0.1
    assert located >= 5
    smooth = 0
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        x = np.geomspace(1e5, 1e8, 16)
        y = (1.0 + 300 * x**-0.35) * np.exp(rng.normal(0, 0.02, len(x)))
        smooth += not select(x, y).form.startswith("bnsl")
    assert smooth >= 5
    assert loss_break_across_scale(x, y)["verdict"] == "smooth"  # the same rule, loss alone


def test_small_samples_get_no_evidence_for_flexible_forms():
    x = np.geomspace(10, 1e4, 10)
    fit = select(x, 3 * x**-0.3 * np.exp(np.random.default_rng(0).normal(0, 0.01, 10)))
    assert fit.form == "power" and fit.evidence["bnsl2"]["aicc"] == np.inf  # 9 parameters, 10 points
