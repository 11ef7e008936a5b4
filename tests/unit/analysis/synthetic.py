"""Synthetic sweeps with known truth for the analysis tests, written with the store's own writers.

Run (size n, parameters N, seed): answer of ``2 n`` tokens; final loss L_f = ln 2 / len * (N_eff /
N*(n))^-beta with N*(n) = n0 * n^gamma and N_eff = N times a per-run jitter, so exact accuracy
crosses 50% at N*(n); the loss falls to L_f along a log-spaced evaluation schedule. Artefact-only:
exact = Binomial(E, P) / E with P = exp(-len L) (the product of the per-token probabilities).
``jump`` = {size: (h, L0, w)} adds a genuine capability on top: P + (1 - P) h sigmoid((L0 - L) / w);
``deficit`` = {size: (d, L0, w)} holds accuracy below the null below a loss L0:
P (1 - d sigmoid((L0 - L) / w)).

``make_varied_runs``: artefact-only data whose held-out examples vary, as real ones do (see there).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from search_scaling.store import ParquetStore
from search_scaling.store.schema import RUNS_SCHEMA

EVAL_EXAMPLES = 256
STEPS = np.array([0, 20, 40, 80, 130, 200, 300, 450, 650, 1000])


def answer_len(size: int) -> int:
    return 2 * size


def make_runs(seed: int = 0, sizes=(2, 3, 4), params=(1e3, 3e3, 1e4, 3e4), seeds=(0, 1), n0: float = 400.0,
              gamma: float = 2.0, beta: float = 0.8, jump: dict | None = None,
              jitter: float = 0.1, deficit: dict | None = None):  # fmt: skip
    """[(run row, curve rows)] of one synthetic sweep."""
    rng = np.random.default_rng(seed)
    out = []
    for size in sizes:
        for n_params in params:
            for run_seed in seeds:
                n_eff = n_params * np.exp(rng.normal(0, jitter))
                final = np.log(2) / answer_len(size) * (n_eff / (n0 * size**gamma)) ** -beta
                out.append(
                    _run(
                        rng,
                        size,
                        int(n_params),
                        run_seed,
                        final,
                        (jump or {}).get(size),
                        (deficit or {}).get(size),
                    )
                )
    return out


def _run(rng, size, n_params, seed, final_loss, jump, deficit=None):
    length = answer_len(size)
    loss = final_loss + (3.0 - final_loss) * (1 - STEPS / STEPS[-1]) ** 2
    prob = np.exp(-length * loss)
    truth = prob if jump is None else prob + (1 - prob) * jump[0] / (1 + np.exp((loss - jump[1]) / jump[2]))
    if deficit is not None:
        truth = truth * (1 - deficit[0] / (1 + np.exp((loss - deficit[1]) / deficit[2])))
    exact = rng.binomial(EVAL_EXAMPLES, truth) / EVAL_EXAMPLES
    tokens = STEPS * 1000
    metrics = {"loss": loss, "answer_logprob": -loss, "answer_prob": prob,
               "answer_len": np.full(len(STEPS), length), "exact": exact}  # fmt: skip
    run_hash = f"s{size}-n{n_params}-r{seed}"
    rows = [{"step": int(s), "tokens": int(t), "flops": 6.0 * n_params * t, "split": "eval", "metric": m,
             "value": float(v[i]), "wall_time": float(i)}
            for i, (s, t) in enumerate(zip(STEPS, tokens)) for m, v in metrics.items()]  # fmt: skip
    final = {m: float(v[-1]) for m, v in metrics.items()}
    return _run_row(run_hash, size, n_params, seed, final), rows


def _run_row(run_hash, size, n_params, seed, final, status="done"):
    row = {f.name: None for f in RUNS_SCHEMA}
    spec = {"eval_examples": EVAL_EXAMPLES, "seed": seed, "size": size}
    return {**row, "task": "maze", "task_size": size, "model": f"N{n_params}", "params_nonembed": n_params,
            "flops_per_token": 6.0 * n_params, "seed": seed, "status": status, "code_version": "synthetic",
            "started_at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), "final_json": json.dumps(final),
            "spec_json": json.dumps(spec), "run_hash": run_hash}  # fmt: skip


def write_store(root, runs, sweep: str = "syn") -> str:
    store = ParquetStore(str(root))
    for row, curves in runs:
        run_hash = row.pop("run_hash")
        store.write_run(sweep, run_hash, row)
        if curves:
            store.write_curves(sweep, run_hash, curves, 0, max(r["step"] for r in curves))
        row["run_hash"] = run_hash
    return str(root)


def failed_run(size: int, n_params: int, seed: int = 0):
    row = _run_row(f"failed-s{size}-n{n_params}-r{seed}", size, n_params, seed, {}, status="failed")
    return {**row, "final_json": None}, []


def curves_table(runs) -> pd.DataFrame:
    """What `analysis.records.read_store` returns for these runs, without the disk (for many seeds).
    One frame from one list of rows: a frame per run and a concat took 0.13 s a sweep."""
    keys = ("run_hash", "task", "task_size", "model", "seed", "params_nonembed", "flops_per_token", "status")
    rows = [{**point, **{k: row[k] for k in keys}, "eval_examples": EVAL_EXAMPLES}
            for row, curves in runs for point in curves]  # fmt: skip
    return pd.DataFrame(rows)


def make_varied_runs(seed: int = 0, sizes=(3, 4), params=(1e3, 3e3, 1e4, 3e4), seeds=(0, 1),
                     n0: float = 400.0, gamma: float = 2.0, beta: float = 0.8):  # fmt: skip
    """Artefact-only runs over held-out examples that vary in length and difficulty. Example i has
    ``dec_i`` decision tokens (1 to 2 n) among ``len_i`` = dec_i + n answer tokens (corridor tokens
    are certain) and a difficulty d_i (lognormal, sd 0.8); each decision token's NLL is d_i l(step).
    The example is right with probability p_i = exp(-dec_i d_i l), and nothing else: exact =
    mean_i Bernoulli(p_i), decision_prob = answer_prob = mean_i p_i, while exp(-decision_loss) and
    exp(answer_logprob) are geometric means, below mean_i p_i (Jensen)."""
    rng = np.random.default_rng(seed)
    out = []
    for size in sizes:
        dec = rng.integers(1, 2 * size + 1, EVAL_EXAMPLES)  # one held-out set per size, as in the platform
        length, difficulty = dec + size, np.exp(rng.normal(0, 0.8, EVAL_EXAMPLES))
        for n_params in params:
            for run_seed in seeds:
                final = np.log(2) / (2 * size) * (n_params / (n0 * size**gamma)) ** -beta
                out.append(_varied_run(rng, size, int(n_params), run_seed, final, dec, length, difficulty))
    return out


def _varied_run(rng, size, n_params, seed, final_loss, dec, length, difficulty):
    ell = final_loss + (3.0 - final_loss) * (1 - STEPS / STEPS[-1]) ** 2  # [steps] decision-token NLL
    nll = difficulty[None, :] * dec[None, :] * ell[:, None]  # [steps, examples] NLL of each answer
    prob = np.exp(-nll)
    metrics = {"loss": nll.sum(1) / length.sum(), "answer_logprob": np.mean(-nll / length, axis=1),
               "answer_prob": prob.mean(1), "answer_len": np.full(len(STEPS), length.mean()),
               "decision_loss": nll.sum(1) / dec.sum(), "decision_prob": prob.mean(1),
               "exact": (rng.random(prob.shape) < prob).mean(1)}  # fmt: skip
    run_hash = f"v{size}-n{n_params}-r{seed}"
    rows = [{"step": int(s), "tokens": int(s) * 1000, "flops": 6.0 * n_params * s * 1000, "split": "eval",
             "metric": m, "value": float(v[i]), "wall_time": float(i)}
            for i, s in enumerate(STEPS) for m, v in metrics.items()]  # fmt: skip
    return _run_row(run_hash, size, n_params, seed, {m: float(v[-1]) for m, v in metrics.items()}), rows
