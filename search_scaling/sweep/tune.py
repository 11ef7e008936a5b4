"""`search-scaling tune SPEC`: the spec's ``tune:`` searches on Ray Tune, then a tuned spec.

Ray Tune does what it is for: sampling the search space (seeded, so a rerun draws the same
configurations), ASHA early stopping and trial bookkeeping. Every trial trains ordinary
content-addressed runs through `record_run` (sweep id ``<name>-tune``: same Parquet store, ledger and
MLflow mirror as a sweep), so a rerun or a killed and restarted `tune` reuses what is finished: a
finished run is replayed from the store to the scheduler instead of trained, a pruned one is
replayed and then, if the scheduler lets it go on this time, resumed from its checkpoint.

Groups: ``per: model`` is one search per model size whose trials train every problem size of the
model in turn (first seed of the spec), the objective being the mean over sizes (ASHA compares
trials at the same point of that sequence); ``per: cell`` is one search per model x problem size.
Pruned runs keep their curves (flushed before each report) and end ``pruned`` in the ledger.

The parts: what is searched (`tune_plan`), one trial (`tune_trial`), the driver and the record of
the search (here), the tuned spec and the summary (`tune_outputs`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from search_scaling.store import Stores
from search_scaling.sweep.spec import SweepSpec
from search_scaling.sweep.tune_plan import (
    SUFFIX,
    Group,
    _required,
    baseline_values,
    check_metric,
    search_id,
    search_space,
    trial_specs,
    tune_groups,
)
from search_scaling.sweep.tune_spec import TuneSpec
from search_scaling.sweep.tune_trial import run_trial
from search_scaling.training.spec import RunSpec


def run_tune(sweep: SweepSpec, stores: Stores, address: str | None = None, verbose: int = 1) -> dict:
    """Run every group's search; returns {group key: [trial run hashes per trial]}. A group whose
    search (same space, budget, objective, cells) already ended, all its runs finished or pruned,
    is taken from the record of that search without starting Ray."""
    import ray
    from ray import tune as rt

    tune = _required(sweep)
    check_metric(sweep)
    groups, trials = tune_groups(sweep), {}
    for group in groups:
        previous = _previous_search(stores, sweep, group)
        if previous is not None:
            trials[group.key] = previous
    todo = [g for g in groups if g.key not in trials]
    if todo:
        _prepare_mirror(sweep, stores)
        if not ray.is_initialized():
            ray.init(
                address=address or os.environ.get("RAY_ADDRESS"),
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}},
            )
    for group in todo:
        try:
            trials[group.key] = _search(rt, sweep, tune, group, stores, verbose)
        except KeyboardInterrupt:  # not recorded as ended: a rerun resumes its runs (tune_stop.py)
            from search_scaling.sweep.ray_exit import sigint_held
            from search_scaling.sweep.tune_stop import INTERRUPTED, end_held

            with sigint_held("releasing the interrupted runs"):  # a second Ctrl-C: no half-release
                end_held(stores, f"{sweep.name}{SUFFIX}:{group.key}:", "failed", INTERRUPTED)
            raise
        save_meta(sweep, stores, {**_recorded(stores, sweep), group.key: trials[group.key]})
    return {g.key: trials[g.key] for g in groups}


def _recorded(stores: Stores, sweep: SweepSpec) -> dict:
    path = meta_path(stores, sweep.name)
    return json.loads(path.read_text())["groups"] if path.exists() else {}


def _previous_search(stores: Stores, sweep: SweepSpec, group: Group) -> list | None:
    entry = _recorded(stores, sweep).get(group.key)
    if not entry or entry["search"] != search_id(_required(sweep), group):
        return None
    statuses = stores.ledger.statuses([h for trial in entry["trials"] for h in trial])
    return entry["trials"] if all(_settled(trial, statuses) for trial in entry["trials"]) else None


def _settled(trial: list[str], statuses: dict) -> bool:
    """A trial ended: its runs (one per problem size, in order) all finished, or it stopped at a
    pruned or diverged run (the runs after it were never started)."""
    for run_hash in trial:
        status = statuses.get(run_hash)
        if status in ("pruned", "diverged"):
            return True
        if status != "done":
            return False
    return True


def _search(rt, sweep: SweepSpec, tune: TuneSpec, group: Group, stores: Stores, verbose: int) -> list:
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    trainable = rt.with_parameters(
        run_trial,
        group=group,
        tune=tune,
        sweep_name=sweep.name,
        locations=(stores.root, stores.ledger_url, stores.tracking_uri),
        threads=int(sweep.resources.cpus),
        checkpoint_every_s=sweep.checkpoint_every_s,
    )
    resources = {"cpu": sweep.resources.cpus, "gpu": sweep.resources.gpus}
    scheduler = None
    if tune.scheduler is not None:
        scheduler = ASHAScheduler(
            time_attr="budget_pct",
            max_t=100.0,
            grace_period=100.0 * tune.scheduler.grace,
            reduction_factor=tune.scheduler.reduction_factor,
        )
    tuner = rt.Tuner(
        rt.with_resources(trainable, resources),
        param_space=search_space(tune),
        tune_config=rt.TuneConfig(
            metric="objective",
            mode=tune.mode,
            num_samples=tune.samples + int(tune.baseline),
            scheduler=scheduler,
            search_alg=BasicVariantGenerator(
                random_state=_group_seed(tune.seed, group.key),
                max_concurrent=tune.max_concurrent,
                points_to_evaluate=[baseline_values(group, tune)] if tune.baseline else None,
            ),
            # A fresh actor per trial: reusing one waits on the stopped trial's thread (2 s by
            # default), and a failed reuse left its CPUs reserved, starving the next search.
            reuse_actors=False,
        ),
        run_config=rt.RunConfig(
            name=f"{sweep.name}{SUFFIX}-{_safe(group.key)}",
            verbose=verbose,
            storage_path=str(Path(_tune_dir(stores)).resolve()),
        ),
    )
    from search_scaling.sweep.tune_stop import interrupts_raise

    with interrupts_raise():  # Tune's own Ctrl-C would end the trials as if pruned
        results = tuner.fit()
    specs = [trial_specs(group, r.config, tune, sweep.name) for r in results]
    _settle(stores, [s for trial in specs for s in trial], f"{sweep.name}{SUFFIX}:{group.key}:")
    return [[s.run_hash for s in trial] for trial in specs]


def _settle(stores: Stores, specs: list[RunSpec], owner_prefix: str) -> None:
    """A stopped trial's actor may end before its run recorded ``pruned`` (Tune does not wait for the
    trial's thread): such runs are still ``running`` under an owner of this search that is gone.
    End them ``pruned``; their curves were flushed before each report, and the checkpoint lets a
    later search go on."""
    from search_scaling.sweep.tune_stop import end_held

    end_held(stores, owner_prefix, "pruned", "stopped by the scheduler", [s.run_hash for s in specs])


def _prepare_mirror(sweep: SweepSpec, stores: Stores) -> None:
    from search_scaling.store.recorder import first_use_lock

    if stores.tracking_uri is None:
        return
    try:  # creating the client (inside: it first touches the database) takes the lock itself
        mirror = stores.mirror
        with first_use_lock(stores.tracking_uri):  # two drivers at once: one parent run
            mirror.parent_run(sweep.name + SUFFIX, {"spec": sweep.path, "tune": True})
    except Exception as err:  # noqa: BLE001 -- MLflow down: the search still runs
        print(f"warning: MLflow unavailable ({err}); run `search-scaling mlflow-sync` later")


def _tune_dir(stores: Stores) -> str:
    """Tune's own experiment state: beside the Parquet store when it is local."""
    return f"{stores.root}/tune" if stores.local else str(Path("runs/tune").resolve())


def _group_seed(seed: int, key: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:4], "little")


def _safe(key: str) -> str:
    return key.replace("/", "_")


def meta_path(stores: Stores, sweep_name: str) -> Path:
    return Path(_tune_dir(stores)) / f"{sweep_name}{SUFFIX}.json"


def save_meta(sweep: SweepSpec, stores: Stores, trials: dict) -> Path:
    """The record of the search: what `search-scaling report <name>-tune` needs to redraw it
    (fields, objective, trials) and what a rerun needs to reuse it (each group's search id)."""
    tune = _required(sweep)
    ids = {g.key: search_id(tune, g) for g in tune_groups(sweep)}
    groups = {
        k: {
            "search": v["search"] if isinstance(v, dict) else ids.get(k),
            "trials": v["trials"] if isinstance(v, dict) else v,
        }
        for k, v in trials.items()
    }
    meta = {
        "sweep": sweep.name + SUFFIX,
        "spec": sweep.path,
        "fields": list(tune.space),
        "per": tune.per,
        "metric": tune.metric,
        "mode": tune.mode,
        "groups": groups,
        "trials": {k: v["trials"] for k, v in groups.items()},
        "baselines": {g.key: baseline_values(g, tune) for g in tune_groups(sweep)} if tune.baseline else {},
    }
    path = meta_path(stores, sweep.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(path)
    return path
