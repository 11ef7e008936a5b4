"""An impossible resource request fails in seconds with the field named, against a real Ray that
(like a laptop) has 2 CPUs and no GPU; before, the sweep waited forever at worker start-up."""

from __future__ import annotations

import threading

import pytest

from search_scaling.store import Stores
from search_scaling.sweep.runner import run_sweep
from search_scaling.sweep.spec import SpecError, parse_sweep

pytestmark = pytest.mark.integration
SPEC = {"name": "r", "tasks": [{"task": "maze", "sizes": [3]}], "models": ["L1-D8"], "budget": {"steps": 2}}


@pytest.fixture(scope="module")
def small_ray():
    import ray

    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)  # the one ray.init
    yield ray
    ray.shutdown()


@pytest.mark.parametrize(
    "resources, words",
    [
        (
            {"cpus": 1, "gpus": 0.25},
            "resources.gpus: 0.25 GPU per trial requested, but at most 0 on one node",
        ),
        ({"cpus": 64}, "resources.cpus: 64 CPU per trial requested, but at most 2 on one node"),
    ],
)
def test_impossible_request_fails_fast_naming_the_field(small_ray, tmp_path, resources, words):
    sweep = parse_sweep({**SPEC, "resources": resources}, "sweeps/r.yaml")
    stores = Stores.resolve(str(tmp_path / "store"), mlflow=False)
    err = _raised_within(60, lambda: run_sweep(sweep, stores))  # in seconds; it used to wait forever
    assert isinstance(err, SpecError), err
    assert str(err).startswith("sweeps/r.yaml: 1 problem(s)") and words in str(err)


def _raised_within(seconds: float, fn):
    """What ``fn`` raised, failing the test if it is still running after ``seconds``."""
    raised = []
    worker = threading.Thread(target=lambda: _catch(fn, raised), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still waiting after {seconds} s instead of failing"
    return raised[0] if raised else None


def _catch(fn, raised: list) -> None:
    try:
        fn()
    except Exception as err:  # noqa: BLE001 -- handed to the test
        raised.append(err)
