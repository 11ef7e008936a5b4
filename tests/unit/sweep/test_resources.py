"""Whether any node (live, or a node type the autoscaler may launch) can hold one trial."""

from __future__ import annotations

from search_scaling.sweep.resources import impossible
from search_scaling.sweep.spec import Resources

LAPTOP = [{"CPU": 8.0, "memory": 1e10}]
CLUSTER = [{"CPU": 16.0}, {"CPU": 8.0, "GPU": 1.0}]


def test_what_fits_somewhere_passes():
    assert impossible(Resources(cpus=8), LAPTOP) == []
    assert impossible(Resources(cpus=4, gpus=0.25), CLUSTER) == []
    assert (
        impossible(Resources(cpus=1, gpus=1), LAPTOP, node_types=[{"CPU": 4, "GPU": 8}]) == []
    )  # autoscaled


def test_each_impossible_field_is_named_with_requested_and_available():
    (gpu,) = impossible(Resources(cpus=1, gpus=0.25), LAPTOP)
    assert gpu.startswith("resources.gpus: 0.25 GPU per trial requested, but at most 0 on one node")
    (cpu,) = impossible(Resources(cpus=64), CLUSTER)
    assert "resources.cpus: 64 CPU per trial requested, but at most 16 on one node" in cpu
    assert "24 in the whole cluster" in cpu  # 16 + 8 CPUs, but a task runs on one node


def test_a_pair_that_fits_on_no_single_node():
    (both,) = impossible(Resources(cpus=12, gpus=1), CLUSTER)
    assert both.startswith("resources: 12 CPU and 1 GPU per trial fit on no single node")
