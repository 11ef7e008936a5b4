"""Kept checkpoints in the store, beside the curves and through the same filesystem layer (a local
directory or an object store), so they outlive the worker that trained the run:

    weights/sweep_id=<sweep>/run_hash=<hash>/step-<step:09d>.pt

Each file is weights only (`search_scaling.training.weights`). Writes are atomic like the Parquet
parts (hidden temporary + rename locally; one PUT on an object store) and a replayed step replaces
its file. The resume checkpoint (``last.ckpt``) is separate and stays in the work directory.
"""

from __future__ import annotations

import re
import uuid

import pyarrow.fs as pafs

from search_scaling.store.parquet import ParquetStore, _remove_quietly

TABLE = "weights"
STEP_FILE = re.compile(r"^step-(\d+)\.pt$")


class WeightStore:
    def __init__(self, parquet: ParquetStore):
        self.parquet, self.fs = parquet, parquet.fs

    def _dir(self, sweep_id: str, run_hash: str) -> str:
        return self.parquet._dir(TABLE, sweep_id, run_hash)

    def write(self, sweep_id: str, run_hash: str, step: int, raw: bytes, tag: str = "") -> str:
        directory = self._dir(sweep_id, run_hash)
        self.fs.create_dir(directory, recursive=True)
        final = f"{directory}/step-{step:09d}.pt"
        if not self.parquet.local:
            _put(self.fs, final, raw)
            return final
        tmp = f"{directory}/.step-{step:09d}.pt.{tag}-{uuid.uuid4().hex}.tmp"
        try:
            _put(self.fs, tmp, raw)
            self.fs.move(tmp, final)
        except BaseException:
            _remove_quietly(self.fs, tmp)
            raise
        return final

    def steps(self, sweep_id: str, run_hash: str) -> dict[int, int]:
        """{step: bytes} of the run's kept checkpoints."""
        selector = pafs.FileSelector(self._dir(sweep_id, run_hash), allow_not_found=True)
        found = {}
        for info in self.fs.get_file_info(selector):
            match = STEP_FILE.match(info.base_name)
            if match and info.type == pafs.FileType.File:
                found[int(match.group(1))] = info.size
        return dict(sorted(found.items()))

    def read(self, sweep_id: str, run_hash: str, step: int) -> bytes:
        path = f"{self._dir(sweep_id, run_hash)}/step-{step:09d}.pt"
        with self.fs.open_input_stream(path) as f:
            return f.read()

    def path(self, sweep_id: str, run_hash: str, step: int) -> str:
        """Where a kept checkpoint lives (for messages): the store's path or URI."""
        return f"{self._dir(sweep_id, run_hash)}/step-{step:09d}.pt"


def _put(fs, path: str, raw: bytes) -> None:
    with fs.open_output_stream(path) as out:
        out.write(raw)


# -- finding a run's weights ---------------------------------------------------------------------------
def find_run(stores, run_hash: str) -> dict:
    """The runs-table row of ``run_hash`` or of the one run whose hash starts with it (any sweep; a
    finished one first), or a ValueError saying the store does not have it (or which runs match)."""
    import pyarrow.dataset as ds

    from search_scaling.store.locations import redact
    from search_scaling.store.schema import RUNS_SCHEMA

    run_hash = stores.parquet.match_run(run_hash)  # any unique prefix of it
    rows = stores.parquet._read("runs", RUNS_SCHEMA, ds.field("run_hash") == run_hash)
    if rows.empty:
        raise ValueError(f"run {run_hash} is not in store {redact(stores.root)} (no runs-table row)")
    rows = rows.assign(_done=rows["status"] == "done").sort_values("_done", ascending=False)
    return rows.drop(columns="_done").iloc[0].to_dict()


def kept_steps(stores, row: dict) -> dict[int, int]:
    """{step: bytes} of the run's kept checkpoints, plus its final step from the resume checkpoint
    of a finished local run that kept none (runs trained before checkpoints were kept)."""
    kept = WeightStore(stores.parquet).steps(row["sweep_id"], row["run_hash"])
    last = _resume_checkpoint(stores, row)
    if not kept and last is not None:
        kept[int(row["steps"])] = last.stat().st_size
    return kept


def read_weights(stores, row: dict, step: int | None = None) -> tuple[int, dict]:
    """(step, state dict) of a run's weights at ``step`` (None: the last kept step); ValueError
    naming the kept steps when there is none at that step."""
    from search_scaling.training import weights as wt

    kept = kept_steps(stores, row)
    run_hash = row["run_hash"]
    if not kept:
        raise ValueError(no_weights_reason(stores, row))
    step = max(kept) if step is None else step
    if step not in kept:
        raise ValueError(f"run {run_hash} kept no checkpoint at step {step}; kept steps: {list(kept)}")
    store = WeightStore(stores.parquet)
    if step in store.steps(row["sweep_id"], run_hash):
        raw = store.read(row["sweep_id"], run_hash, step)
        return step, wt.from_bytes(raw, store.path(row["sweep_id"], run_hash, step))["model"]
    return step, _from_resume_checkpoint(_resume_checkpoint(stores, row))


def no_weights_reason(stores, row: dict) -> str:
    """Why a run has no weights in this store, most specific first: the store is an export (runs and
    curves only), the run did not finish, it kept none, or its kept files are gone."""
    import json

    from search_scaling.store.export import export_source, is_export
    from search_scaling.store.locations import redact

    run_hash, store = row["run_hash"], redact(stores.root)
    if is_export(stores.root):
        source = export_source(stores.root)
        return (f"run {run_hash}: store {store} is an export (runs and curves only, no weights); load "
                f"it from the store it was exported from ({redact(source)})")  # fmt: skip
    keep = json.loads(row["spec_json"]).get("keep_checkpoints", "none") if row.get("spec_json") else "none"
    if row["status"] != "done":
        why = f" ({row['error']})" if row.get("error") else ""
        return (f"run {run_hash} is {row['status']!r}{why} and kept no checkpoint before it stopped "
                f"(keep_checkpoints: {keep}); train it again to load it")  # fmt: skip
    if keep == "none":
        return (f"run {run_hash} kept no checkpoints (keep_checkpoints: none); train it with "
                "keep_checkpoints: final or log")  # fmt: skip
    return (f"run {run_hash} was trained with keep_checkpoints: {keep}, but its weights are not in "
            f"store {store} (weights/sweep_id={row['sweep_id']}/run_hash={run_hash}/ is missing: a copy "
            "without them?)")  # fmt: skip


def source_weights(stores, spec) -> dict:
    """The state dict ``spec.init_from`` names, after checking that the source exists, finished,
    kept that step and has this run's model shape (each failure one ValueError naming the source)."""
    import json

    from search_scaling.training import RunSpec
    from search_scaling.training.transfer import check_same_shape

    source = spec.init_from["run"]
    row = find_run(stores, source)
    if row["status"] != "done":
        why = f": {row['error']}" if row.get("error") else ""
        raise ValueError(f"init_from: source run {source} is {row['status']!r}{why}; it must be done first")
    source_spec = RunSpec.from_dict(json.loads(row["spec_json"]))
    check_same_shape(source_spec.model_config, spec.model_config, source)
    step = spec.init_from["step"]
    return read_weights(stores, row, int(row["steps"]) if step is None else step)[1]


def _resume_checkpoint(stores, row: dict):
    if not stores.local or row["status"] != "done":
        return None
    path = stores.workdir / row["run_hash"] / "last.ckpt"
    return path if path.exists() else None


def _from_resume_checkpoint(path) -> dict:
    """The model weights inside a Lightning resume checkpoint (keys ``model.<name>``)."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    return {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
