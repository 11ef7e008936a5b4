"""Transfer inside a sweep: a task entry's ``init_from`` names the run each of its cells starts from.

    tasks:
      - {task: parity, sizes: [8]}
      - {task: polynomial, sizes: [8], init_from: {task: parity}, freeze: [embed]}

``init_from`` is either ``{run: <run hash>, step: N}`` (any finished run in the store) or a selector
``{task, options, size, model, seed, sweep, step}`` of which only ``task`` is required: ``size``,
``model`` and ``seed`` default to the dependant cell's own, ``options`` (the source's task options)
narrows the match, and ``sweep`` defaults to this sweep (another sweep's cells are looked up in the
store). The selector must match exactly one run; it becomes that run's hash, which is part of the
dependant's identity. ``step`` (default: the source's final step) must be a step the source keeps:
a source cell of this sweep keeps its final weights (``keep_checkpoints: final``) or, when a
dependant names a step, every evaluation step (``log``), without changing its identity.

The runner starts a dependant once its source has finished; a source that failed, diverged or does
not exist fails only its dependants, each with the reason (`search_scaling.store.weights`).
"""

from __future__ import annotations

import json

from search_scaling.training.transfer import check_same_shape

SELECTOR_KEYS = ("task", "options", "size", "model", "seed", "sweep", "step")
KEPT_ORDER = ("none", "final", "log")


def check_selector(value, where: str, problems: list[str]) -> dict | None:
    """The selector (or ``{run, step}``) if well-formed; else a problem naming ``where``."""
    if not isinstance(value, dict) or not value:
        problems.append(f"{where}: a mapping {{task: <source task>, ...}} or {{run: <hash>}}, got {value!r}")
        return None
    allowed = ("run", "step") if "run" in value else SELECTOR_KEYS
    unknown = sorted(set(value) - set(allowed))
    if unknown or ("run" not in value and "task" not in value):
        problems.append(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(allowed)} (task required "
                        f"unless run names a run hash)" if unknown else f"{where}: task (the source's task) "
                        "or run (a run hash) is required")  # fmt: skip
        return None
    step = value.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        problems.append(f"{where}.step: an integer >= 0 (a step the source keeps), got {step!r}")
        return None
    return dict(value)


def resolve(pending: list[tuple], cells: list, sweep_name: str, problems: list[str], lookup=None) -> None:
    """``pending``: (dependant spec without its source, selector, where), in spec order. Appends
    each dependant with ``init_from`` set to ``cells`` (after its source, so a later entry may start
    from an earlier dependant) and raises the keep policy of source cells (in place)."""
    said = set(problems)
    for spec, selector, where in pending:
        found: list[str] = []  # this cell's problems: many cells of one entry share them, say each once
        step = selector.get("step")
        source = selector.get("run") or _match(spec, selector, cells, sweep_name, where, found, lookup)
        try:
            dependant = spec.with_(init_from={"run": source, "step": step}) if source else None
            for c in cells if source else ():
                if c.run_hash == source:  # a cell of this sweep: its shape is known now
                    check_same_shape(c.model_config, dependant.model_config, source)
        except ValueError as err:
            found.append(f"{where}: {err}")
        problems += [p for p in found if p not in said]
        said.update(found)
        if found:
            continue
        if dependant.run_hash in {c.run_hash for c in cells}:
            continue  # the same cell twice (e.g. a zipped duplicate): it runs once
        sources = [i for i, c in enumerate(cells) if c.run_hash == source]
        cells.append(dependant)
        for i in sources:  # a cell of this sweep: make it keep what its dependant needs
            need = "final" if step is None else "log"
            if KEPT_ORDER.index(cells[i].keep_checkpoints) < KEPT_ORDER.index(need):
                cells[i] = cells[i].with_(keep_checkpoints=need)


def _match(spec, selector: dict, cells: list, sweep_name: str, where: str, problems: list[str], lookup):
    want = {"task": selector["task"], "size": selector.get("size", spec.size),
            "model": selector.get("model", spec.model), "seed": selector.get("seed", spec.seed)}  # fmt: skip
    other = selector.get("sweep", sweep_name)
    if other == sweep_name:
        candidates = cells
    elif lookup is None:
        problems.append(f"{where}.sweep: {other!r} is another sweep; finding its cells needs the store "
                        "(--store), or name the source by run hash: init_from: {run: <hash>}")  # fmt: skip
        return None
    else:
        candidates = lookup(other)
    found = [c for c in candidates if all(getattr(c, k) == v for k, v in want.items())
             and ("options" not in selector or c.task_options == selector["options"])]  # fmt: skip
    described = ", ".join(f"{k}={v}" for k, v in want.items())
    if len(found) == 1:
        return found[0].run_hash
    if not found:
        problems.append(
            f"{where}: no cell of sweep {other!r} has {described}"
            + (f", options={json.dumps(selector['options'])}" if "options" in selector else "")
        )
    else:
        problems.append(f"{where}: {len(found)} cells of sweep {other!r} have {described} (run hashes "
                        f"{[c.run_hash for c in found]}); narrow it with options, or name the run: "
                        "init_from: {run: <hash>}")  # fmt: skip
    return None


def store_lookup(stores):
    """A lookup of another sweep's cells (their RunSpecs) in the store's runs table. ``stores`` is
    `Stores`, or a function that makes them (called only when a selector names another sweep)."""

    def lookup(sweep: str) -> list:
        from search_scaling.training import RunSpec

        runs = (stores() if callable(stores) else stores).parquet.runs(sweep=sweep)
        return [RunSpec.from_dict(json.loads(s)) for s in runs["spec_json"]]

    return lookup


def waiting_on(spec, unfinished: set[str]) -> bool:
    """Whether ``spec`` must wait: its source is a cell of this sweep still queued or running."""
    return bool(spec.init_from) and spec.init_from["run"] in unfinished
