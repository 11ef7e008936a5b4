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
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import lightning as L

from search_scaling.store import Stores
from search_scaling.store.ledger import FINISHED
from search_scaling.sweep.spec import SweepSpec
from search_scaling.sweep.tune_spec import TuneSpec
from search_scaling.training.spec import RunSpec

SUFFIX = "-tune"
WORST = 1e9  # the objective of a diverged trial (Tune's schedulers do not take NaN)


@dataclass(frozen=True)
class Group:
    key: str  # the model, or model/task-size for per: cell
    cells: tuple[RunSpec, ...]  # one per problem size, at the full budget


class Pruned(Exception):
    """The scheduler stopped this trial."""


def tune_groups(sweep: SweepSpec) -> list[Group]:
    tune = _required(sweep)
    first_seed = sweep.cells[0].seed
    groups: dict[str, list[RunSpec]] = {}
    for cell in sweep.cells:
        if cell.seed != first_seed:
            continue  # seeds are replicates: tuned once
        key = cell.model if tune.per == "model" else f"{cell.model}/{cell.task}-{cell.size}"
        if all(
            c.task != cell.task or c.size != cell.size or c.task_options != cell.task_options
            for c in groups.get(key, [])
        ):
            groups.setdefault(key, []).append(cell)
    return [Group(k, tuple(v)) for k, v in groups.items()]


def trial_specs(group: Group, config: dict, tune: TuneSpec, sweep_name: str) -> list[RunSpec]:
    """The runs of one trial: the group's cells with the sampled values and the short budget."""
    values = sampled_values(config, tune)
    kind, amount = tune.budget
    specs = []
    for cell in group.cells:
        spec = cell.with_(**values, sweep=sweep_name + SUFFIX)
        if kind == "steps" or (kind == "fraction" and cell.steps is not None):
            steps = amount if kind == "steps" else max(1, round(amount * cell.steps))
            spec = spec.with_(steps=steps, tokens=None)
        else:
            tokens = amount if kind == "tokens" else max(1, math.ceil(amount * cell.tokens))
            spec = spec.with_(steps=None, tokens=tokens)
        specs.append(spec)
    return specs


def baseline_values(group: Group, tune: TuneSpec) -> dict:
    """The spec's own values of the searched fields for this group (its first cell)."""
    return {k: getattr(group.cells[0], k) for k in tune.space}


def search_space(tune: TuneSpec) -> dict:
    """Tune's distributions (sampled by a seeded generator: a rerun draws the same values)."""
    from ray import tune as rt

    kinds = {
        "choice": lambda args: rt.choice(list(args)),
        "loguniform": lambda args: rt.loguniform(*args),
        "uniform": lambda args: rt.uniform(*args),
    }
    return {name: kinds[kind](args) for name, (kind, args) in tune.space.items()}


def sampled_values(config: dict, tune: TuneSpec) -> dict:
    """A trial's values, continuous ones rounded to 4 significant digits: run hashes and tables stay
    readable, and a value is the same whichever process prints it."""
    return {k: config[k] if tune.space[k][0] == "choice" else float(f"{config[k]:.4g}") for k in tune.space}


# -- the trial (runs in a Tune actor) ---------------------------------------------------------------
def run_trial(
    config: dict,
    *,
    group: Group,
    tune: TuneSpec,
    sweep_name: str,
    locations: tuple,
    threads: int,
    checkpoint_every_s: float,
) -> None:
    import torch
    from ray import tune as rt

    torch.set_num_threads(max(1, threads))
    stores = Stores(*locations)
    specs = trial_specs(group, config, tune, sweep_name)
    finals: list[float] = []
    stopped = []

    def emit(j: int, step: int, total: int, metrics: dict) -> None:
        if stopped:  # after a stop, Tune takes no more reports (the next one would block forever)
            raise Pruned
        value = _objective_value(metrics.get(tune.metric), tune.mode)
        pooled = sum([*finals, value]) / (len(finals) + 1)
        report = {
            "objective": pooled,
            "budget_pct": 100.0 * (j + step / total) / len(specs),
            "task_size": specs[j].size,
            "step": step,
            tune.metric: value,
        }
        try:
            rt.report(report)
        except SystemExit:  # how a function trainable learns that the scheduler stopped it
            stopped.append(step)
            raise Pruned from None

    owner = f"{sweep_name}{SUFFIX}:{group.key}:{json.dumps(config, sort_keys=True)}"
    for j, spec in enumerate(specs):
        final = _run_or_replay(spec, stores, owner, lambda *a, j=j: emit(j, *a), checkpoint_every_s)
        if final is None or stopped:
            return  # pruned (or stopped at its last report)
        finals.append(_objective_value(final.get(tune.metric), tune.mode))
        if finals[-1] in (WORST, -WORST):
            return  # diverged: the other sizes cannot rescue it


def _objective_value(value, mode: str) -> float:
    if value is None or not math.isfinite(value):
        return WORST if mode == "min" else -WORST
    return float(value)


def _run_or_replay(spec: RunSpec, stores: Stores, owner: str, emit, checkpoint_every_s: float) -> dict | None:
    """The run's final metrics, or None if the scheduler stopped it. Finished and pruned runs are
    replayed from the store first; an unfinished one is trained (a pruned one resumed)."""
    from search_scaling.store import record_run
    from search_scaling.training.run import plan_run

    total = plan_run(spec)[1]
    row = stores.ledger.get(spec.run_hash)
    status = row["status"] if row else None
    replayed = -1
    if status in (*FINISHED, "pruned"):
        evals = stored_evals(stores, spec)
        try:
            for step in sorted(s for s in evals if s > 0):
                emit(step, total, evals[step])
                replayed = step
        except Pruned:
            return None
        if status in FINISHED:
            return evals.get(max(evals), {}) if evals else {}
    reporter = TuneReporter(emit, after=replayed)
    result = record_run(
        spec, stores, owner=owner, checkpoint_every_s=checkpoint_every_s, callbacks=(reporter,)
    )
    if result is not None and result.status == "pruned":
        return None
    # The last evaluation is reported once the run is recorded finished: a stop at that report (the
    # scheduler's end of budget) may end the actor at once.
    evals = stored_evals(stores, spec)
    final = result.final if result is not None else (evals.get(max(evals), {}) if evals else {})
    with contextlib.suppress(Pruned):
        emit(result.steps if result is not None else total, total, final)
    return final


def stored_evals(stores: Stores, spec: RunSpec) -> dict[int, dict]:
    curves = stores.parquet.curves(sweep=spec.sweep, run_hash=spec.run_hash, with_runs=False)
    curves = curves[curves["split"] == "eval"]
    return {int(step): dict(zip(g["metric"], g["value"])) for step, g in curves.groupby("step")}


class TuneReporter(L.Callback):
    """Reports each held-out evaluation of a run to Tune, after flushing the curve up to it (so a
    trial the scheduler stops keeps its curve); a stop ends the run ``pruned``."""

    def __init__(self, emit, after: int = -1):
        self.emit, self.after = emit, after

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        from search_scaling.training.run import RunTracker

        tracker = next(cb for cb in trainer.callbacks if isinstance(cb, RunTracker))
        step = trainer.global_step
        if step <= self.after or step not in tracker.schedule or step == tracker.last_step:
            return  # the last evaluation is reported after the run is recorded finished
        if tracker.state["status"] != "running":
            return
        tracker.flush(trainer, step)
        self.after = step
        try:
            self.emit(step, tracker.last_step, tracker.metrics_at(step))
        except Pruned:
            if tracker.state["status"] == "running":
                tracker.stop_early(trainer, "pruned")


# -- the driver -------------------------------------------------------------------------------------
def _required(sweep: SweepSpec) -> TuneSpec:
    if sweep.tune is None:
        raise ValueError(
            f"{sweep.path}: no tune: section; add one (see sweeps/README.md) to search hyperparameters"
        )
    return sweep.tune


def check_metric(sweep: SweepSpec) -> None:
    """The objective must be a metric the tasks log: scored once with an untrained model on a few
    held-out examples per task, before any trial starts."""
    tune = _required(sweep)
    from search_scaling.models.transformer import Transformer
    from search_scaling.training.data import eval_batch
    from search_scaling.training.evaluate import evaluate

    seen = {}
    for cell in sweep.cells:
        key = (cell.task, json.dumps(cell.task_options, sort_keys=True), cell.size)
        if cell.task in {k[0] for k in seen} and key not in seen:
            continue  # one size per task is enough to know its metric names
        if key not in seen:
            batch = eval_batch(cell.task_obj, cell.size, 64, cell.eval_seed)
            seen[key] = set(evaluate(Transformer(cell.model_config), cell.task_obj, batch))
    for (task, _, _), names in seen.items():
        if tune.metric not in names:
            raise ValueError(
                f"{sweep.path}: tune.metric: {tune.metric!r} is not logged by task {task!r}; "
                f"it logs: {', '.join(sorted(names))}"
            )


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
            from search_scaling.sweep.tune_stop import INTERRUPTED, end_held

            end_held(stores, f"{sweep.name}{SUFFIX}:{group.key}:", "failed", INTERRUPTED)
            raise
        save_meta(sweep, stores, {**_recorded(stores, sweep), group.key: trials[group.key]})
    return {g.key: trials[g.key] for g in groups}


def search_id(tune: TuneSpec, group: Group) -> str:
    """What makes two searches of a group the same: the tune section and the group's cells."""
    import dataclasses
    import hashlib

    payload = json.dumps(
        {"tune": dataclasses.asdict(tune), "cells": [c.run_hash for c in group.cells]},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


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


# -- the outputs ------------------------------------------------------------------------------------
def summarise(sweep: SweepSpec, stores: Stores, trials: dict) -> dict:
    """The trial table, the best values per group and the LR law, from the store."""
    from analysis.tuning import best_per_group, lr_law, trial_table

    tune = _required(sweep)
    runs = stores.parquet.runs(sweep=sweep.name + SUFFIX)
    baselines = {g.key: baseline_values(g, tune) for g in tune_groups(sweep)} if tune.baseline else {}
    table = trial_table(runs, trials, list(tune.space), tune.metric, baselines)
    best = best_per_group(table, tune.mode) if len(table) else table
    law = (
        lr_law(table, tune.mode)
        if "lr" in tune.space and len(table)
        else {"fitted": False, "reason": "lr is not searched"}
    )
    return {"table": table, "best": best, "law": law}


def tuned_section(sweep: SweepSpec, best, law: dict) -> dict:
    """The ``tuned:`` table of the tuned spec: per group, the best values."""
    tune = _required(sweep)
    entries = []
    for row in best.itertuples(index=False):
        entry = {"model": row.model}
        if tune.per == "cell":
            entry["size"] = int(row.group.rsplit("-", 1)[1])
        entry.update({k: _plain(getattr(row, k)) for k in tune.space})
        entries.append(entry)
    section = {"entries": entries}
    if law.get("fitted"):
        section["lr_law"] = {
            "coefficient": float(f"{law['coefficient']:.4g}"),
            "exponent": float(f"{law['exponent']:.4g}"),
            "exponent_interval": [float(f"{v:.4g}") for v in law["exponent_interval"]],
            "params_range": [int(v) for v in law["params_range"]],
        }
    return section


def write_tuned_spec(sweep: SweepSpec, section: dict, path: Path | None = None) -> Path:
    """``<spec>.tuned.yaml``: the original spec (its name + ``-tuned``, without ``tune:``) plus the
    ``tuned:`` table; `search-scaling sweep` runs it unchanged."""
    import yaml

    from search_scaling.sweep.spec import StrictLoader

    source = Path(sweep.path)
    raw = yaml.load(source.read_text(encoding="utf-8"), Loader=StrictLoader)  # noqa: S506 -- a SafeLoader
    raw.pop("tune", None)
    raw["name"] = f"{sweep.name}-tuned"
    raw["tuned"] = section
    path = path or source.with_name(f"{source.stem}.tuned.yaml")
    header = (
        f"# Written by `search-scaling tune {source}`: the spec with the best values of its search\n"
        f"# (sweep {sweep.name}{SUFFIX}) in `tuned:`. Models without an entry take lr_law's learning rate.\n"
    )
    path.write_text(header + yaml.safe_dump(raw, sort_keys=False, default_flow_style=None))
    return path


def _plain(value):
    return value.item() if hasattr(value, "item") else value


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
