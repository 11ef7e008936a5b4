"""Which failures Ray retries: a programming error in a seeded run repeats on every attempt (every
anti_target cell of the goals study failed three times on the same ValueError), so `run_cell`
returns it as a failed outcome; errors that can pass (a file replaced under a reader, CUDA out of
memory, a worker's death) still raise, and Ray retries them."""

from __future__ import annotations

import pyarrow as pa
import pytest

import search_scaling.store as store_module
from search_scaling.store import Stores
from search_scaling.sweep.runner import repeats, run_cell
from search_scaling.sweep.spec import parse_sweep

BODY = {"name": "rt", "tasks": [{"task": "maze", "sizes": [3]}], "models": ["L1-D8"], "seeds": [0],
        "budget": {"steps": 4}, "training": {"eval_points": 2, "eval_examples": 16}}  # fmt: skip


@pytest.mark.parametrize(
    ("err", "again"),
    [
        (ValueError("zero-size array to reduction operation maximum"), True),
        (KeyError("end_a1"), True),
        (TypeError("unsupported operand"), True),
        (ZeroDivisionError("division by zero"), True),
        (RuntimeError("CUDA out of memory"), False),
        (OSError("Couldn't deserialize thrift"), False),
        (pa.ArrowInvalid("parquet file truncated"), False),  # a ValueError, but a replaced file's
    ],
)
def test_only_errors_a_retry_would_repeat_are_not_retried(err, again):
    assert repeats(err) is again


def _run(tmp_path, monkeypatch, err):
    def record_run(*args, **kwargs):
        raise err

    monkeypatch.setattr(store_module, "record_run", record_run)
    stores = Stores.resolve(tmp_path, mlflow=False)
    spec = parse_sweep(BODY).cells[0]
    locations = (stores.root, stores.ledger_url, stores.tracking_uri)  # as the runner sends them
    return spec, lambda: run_cell(spec.to_json(), locations, "rt:owner", 1)


def test_a_repeating_error_comes_back_as_a_failed_outcome(tmp_path, monkeypatch):
    spec, call = _run(tmp_path, monkeypatch, ValueError("zero-size array"))
    outcome = call()
    assert outcome.run_hash == spec.run_hash and outcome.status == "failed"
    assert outcome.final["error"] == "ValueError: zero-size array"


def test_an_error_that_can_pass_is_raised_for_ray_to_retry(tmp_path, monkeypatch):
    _, call = _run(tmp_path, monkeypatch, RuntimeError("CUDA out of memory"))
    with pytest.raises(RuntimeError, match="out of memory"):
        call()


def test_a_claimed_cell_that_fails_for_good_is_failed_in_the_ledger_after_one_attempt(tmp_path, monkeypatch):
    """Through the real recorder: the cell is claimed, its set-up raises a ValueError, and the
    ledger and runs table say failed, with the error, after one attempt."""
    import search_scaling.training.run as run_module

    def plan_run(spec):
        raise ValueError("zero-size array to reduction operation maximum")

    monkeypatch.setattr(run_module, "plan_run", plan_run)
    stores = Stores.resolve(tmp_path, mlflow=False)
    spec = parse_sweep(BODY).cells[0]
    outcome = run_cell(spec.to_json(), (stores.root, stores.ledger_url, stores.tracking_uri), "rt:o", 1)
    row = stores.ledger.get(spec.run_hash)
    assert outcome.status == "failed" and row["status"] == "failed" and row["attempts"] == 1
    assert "ValueError: zero-size array" in row["error"] == outcome.final["error"]
    runs = stores.parquet.runs().set_index("run_hash")
    assert runs.loc[spec.run_hash, "status"] == "failed"
