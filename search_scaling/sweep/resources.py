"""Can Ray ever run one trial of this sweep? Checked once Ray is up, before any cell starts.

A Ray task runs on a single node, so a request is possible only when some node can hold all of it:
a node alive now, or a node type the autoscaler may still launch (its node groups, where Ray knows
them). Otherwise Ray queues the task as infeasible and the sweep waits forever at worker start-up
(``resources: {gpus: 0.25}`` on a machine without a GPU, ``cpus: 64`` on a laptop). The local case
is the same check: a local Ray is a one-node cluster with this machine's CPUs and GPUs.
"""

from __future__ import annotations

from search_scaling.sweep.spec import Resources, SpecError, SweepSpec

FIELDS = (("cpus", "CPU"), ("gpus", "GPU"))  # spec field -> Ray resource name


def check_resources(sweep: SweepSpec) -> None:
    """Raise `SpecError` (file, field, requested, available) when no node of the connected Ray
    cluster, now or after autoscaling, can offer one trial's resources. Needs ``ray.init`` done."""
    import ray

    nodes = [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]
    problems = impossible(sweep.resources, nodes, autoscaler_node_types())
    if problems:
        raise SpecError(sweep.path, problems)


def autoscaler_node_types() -> list[dict]:
    """Resources of each node type the autoscaler may launch; [] where Ray does not know them
    (a local Ray, a fixed cluster). Ray's own cluster-config record (a private API, so guarded)."""
    try:
        from ray._private.state import state

        config = state.get_cluster_config()
    except Exception:  # noqa: BLE001 -- private API moved or unreachable: judge by the live nodes
        return []
    if config is None:
        return []
    return [dict(group.resources) for group in config.node_group_configs if group.max_count != 0]


def impossible(resources: Resources, nodes: list[dict], node_types: list[dict] = ()) -> list[str]:
    """One problem per field no node can satisfy (or one for the pair when each fits somewhere but
    not together); [] if some node (``nodes``: live ones, ``node_types``: launchable) fits it."""
    want = {ray_key: getattr(resources, field) for field, ray_key in FIELDS}
    shapes = [*nodes, *node_types]
    if any(all(shape.get(k, 0) >= v for k, v in want.items() if v > 0) for shape in shapes):
        return []
    where = f"{len(nodes)} live node(s)"
    if node_types:
        where += f" and {len(node_types)} autoscaler node type(s)"
    problems = []
    for field, key in FIELDS:
        best = max((shape.get(key, 0) for shape in shapes), default=0)
        if want[key] > best:
            total = sum(node.get(key, 0) for node in nodes)
            problems.append(
                f"resources.{field}: {want[key]:g} {key} per trial requested, but at most {best:g} on one "
                f"node ({where}; {total:g} in the whole cluster now): the sweep would wait forever; "
                f"lower resources.{field} or add capacity"
            )
    if not problems:
        problems.append(f"resources: {want['CPU']:g} CPU and {want['GPU']:g} GPU per trial fit on no single "
                        f"node ({where}); lower one of them")  # fmt: skip
    return problems
