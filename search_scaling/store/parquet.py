"""The Parquet store: the source of truth for runs and curves (layout in `schema`).

Writes are atomic and idempotent. On a local filesystem a file is written under a hidden name and
renamed; on an object store a PUT is atomic by itself, so the object is written in place. Curve
parts are named by their step range, and a flush that starts at step ``first`` first removes the
run's parts starting at or after ``first``: those can only be leftovers of an attempt that crashed
after flushing but before its checkpoint, and the replay rewrites them.

Temporary names carry the writer's tag (the claim's attempt number, ``a3``) so that an attempt can
remove its own temporaries, and a new attempt those its dead predecessors left.
"""

from __future__ import annotations

import time
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from search_scaling.store.schema import (
    CURVES_SCHEMA,
    PARTITION_KEYS,
    RUNS_SCHEMA,
    file_version,
    upgrade,
)

PART = "part-{first:09d}-{last:09d}.parquet"
READ_ATTEMPTS = 5  # a file replaced while being read is read again (see `_read`)


class ParquetStore:
    """A store at a local directory or any pyarrow filesystem URI (``s3://bucket/prefix``)."""

    def __init__(self, root: str):
        self.root_uri = str(root)
        if "://" in self.root_uri:
            self.fs, self.root = pafs.FileSystem.from_uri(self.root_uri)
        else:
            from pathlib import Path

            self.fs, self.root = pafs.LocalFileSystem(), str(Path(root).resolve())
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    # -- paths ---------------------------------------------------------------------------------------
    def _dir(self, table: str, sweep_id: str, run_hash: str) -> str:
        return f"{self.root}/{table}/sweep_id={_safe(sweep_id)}/run_hash={_safe(run_hash)}"

    # -- writing -------------------------------------------------------------------------------------
    def write_curves(self, sweep_id: str, run_hash: str, rows: list[dict], first: int, last: int,
                     tag: str = "") -> str:  # fmt: skip
        """Rows of steps ``first..last`` of one run; replaces what an earlier attempt left there.
        ``tag`` names the writer in temporary file names."""
        table = pa.Table.from_pylist(rows, schema=CURVES_SCHEMA)
        directory = self._dir("curves", sweep_id, run_hash)
        for stale in self._parts(directory):
            if _part_first(stale) >= first:
                self.fs.delete_file(f"{directory}/{stale}")
        return self._write(table, directory, PART.format(first=first, last=last), tag)

    def write_run(self, sweep_id: str, run_hash: str, row: dict, tag: str = "") -> str:
        table = pa.Table.from_pylist([row], schema=RUNS_SCHEMA)
        return self._write(table, self._dir("runs", sweep_id, run_hash), "run.parquet", tag)

    def _write(
        self, table: pa.Table, directory: str, name: str, tag: str = "", compression: str = "snappy"
    ) -> str:
        self.fs.create_dir(directory, recursive=True)
        final = f"{directory}/{name}"
        if not self.local:
            pq.write_table(table, final, filesystem=self.fs, compression=compression)
            return final
        tmp = f"{directory}/.{name}.{tag}-{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(table, tmp, filesystem=self.fs, compression=compression)
            self.fs.move(tmp, final)  # rename(2): readers see the old file or the new one, never half
        except BaseException:  # Ctrl-C or a failed write: leave no temporary behind
            _remove_quietly(self.fs, tmp)
            raise
        return final

    def remove_temporaries(self, sweep_id: str, run_hash: str, tag: str | None = None) -> int:
        """Remove a run's temporary files: those of writer ``tag``, or all (``None``: a new attempt
        clears what dead attempts left). Returns how many were removed."""
        removed = 0
        for table in ("runs", "curves", "weights"):
            directory = self._dir(table, sweep_id, run_hash)
            info = self.fs.get_file_info(pafs.FileSelector(directory, allow_not_found=True))
            for f in info:
                if _is_temporary(f.base_name, tag):
                    removed += _remove_quietly(self.fs, f.path)
        return removed

    def _parts(self, directory: str) -> list[str]:
        info = self.fs.get_file_info(pafs.FileSelector(directory, allow_not_found=True))
        return [f.base_name for f in info if f.base_name.startswith("part-")]

    # -- reading -------------------------------------------------------------------------------------
    def runs(self, sweep: str | None = None, task: str | None = None, size: int | None = None):
        """One row per run (tidy), filtered by sweep id, task and task size."""
        filters = _filters(sweep_id=sweep, task=task, task_size=size)
        return self._read("runs", RUNS_SCHEMA, filters)

    def curves(self, sweep: str | None = None, task: str | None = None, size: int | None = None,
               run_hash: str | None = None, with_runs: bool = True) -> pd.DataFrame:  # fmt: skip
        """One row per (run, step, split, metric); with ``with_runs`` each row also carries its
        run's task, sizes, model and parameter counts, ready for plotting and fitting. Filtering by
        task or size goes through the runs table."""
        filters = _filters(sweep_id=sweep, run_hash=run_hash)
        runs = self.runs(sweep, task, size) if (with_runs or task or size) else None
        if task is not None or size is not None:
            filters = filters & ds.field("run_hash").isin(runs["run_hash"].unique().tolist())
        curves = self._read("curves", CURVES_SCHEMA, filters)
        if runs is None or not with_runs:
            return curves
        keep = ["sweep_id", "run_hash", "task", "task_size", "model", "seed", "params_nonembed",
                "params_total", "flops_per_token", "status"]  # fmt: skip
        return curves.merge(runs[keep], on=["sweep_id", "run_hash"], how="left")

    def latest(self, sweep_id: str, run_hash: str) -> tuple[int, dict[str, float]] | None:
        """(last flushed step, {"loss": train loss, metric: held-out value, ...} at that step or the
        last evaluation before it) of a run in progress, from its newest curve part; None before its
        first flush. One small file is read, so a live display can ask every few seconds."""
        directory = self._dir("curves", sweep_id, run_hash)
        parts = sorted(self._parts(directory), key=_part_first)
        if not parts:
            return None
        try:
            rows = pq.read_table(f"{directory}/{parts[-1]}", filesystem=self.fs).to_pandas()
        except (OSError, ValueError):  # being replaced, or corrupt (`status` names those)
            return None
        if rows.empty:
            return None
        values = {}
        for split in ("eval", "train"):  # the train loss wins: it is logged at more steps
            rows_of = rows[rows["split"] == split]
            if len(rows_of):
                at = rows_of[rows_of["step"] == rows_of["step"].max()]
                values.update(zip(at["metric"], at["value"].astype(float)))
        return int(rows["step"].max()), values

    def run_index(self) -> dict[str, list[str]]:
        """{sweep id: [run hashes]} of the runs table, from its folder names alone (no file is read)."""
        selector = pafs.FileSelector(f"{self.root}/runs", recursive=True, allow_not_found=True)
        index: dict[str, list[str]] = {}
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File or info.base_name != "run.parquet":
                continue
            *_, sweep_dir, run_dir, _ = info.path.split("/")
            if sweep_dir.startswith("sweep_id=") and run_dir.startswith("run_hash="):
                index.setdefault(sweep_dir.removeprefix("sweep_id="), []).append(
                    run_dir.removeprefix("run_hash=")
                )
        return {sweep: sorted(hashes) for sweep, hashes in sorted(index.items())}

    def match_run(self, prefix: str) -> str:
        """The one run hash of the store that starts with ``prefix`` (e.g. the 6 characters of an
        MLflow run name); a ValueError names the matches when there are several, or says there is none."""
        found = {
            h: sweep for sweep, hashes in self.run_index().items() for h in hashes if h.startswith(prefix)
        }
        if len(found) == 1 or prefix in found:
            return prefix if prefix in found else next(iter(found))
        if not found:
            what = (
                f"run {prefix} is not in store"
                if len(prefix) == 16
                else f"no run hash starting with {prefix!r} in store"
            )
            raise ValueError(f"{what} {self.root_uri} (`search-scaling status SWEEP` lists a sweep's runs)")
        shown = ", ".join(f"{h} ({sweep})" for h, sweep in sorted(found.items())[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        raise ValueError(
            f"{prefix!r} is the start of {len(found)} run hashes: {shown}{more}; give more characters"
        )

    def _read(self, table: str, schema: pa.Schema, filters) -> pd.DataFrame:
        """Read a table. Pyarrow opens each file twice, its footer at discovery and its data later; a
        writer renaming a new file under the same name in between (a run row going from running to
        done, a replay removing curve parts) makes the second open fail or read the wrong offsets.
        Every file is whole at all times, so the read starts over from discovery."""
        for attempt in range(READ_ATTEMPTS):
            try:
                return self._read_once(table, schema, filters)
            except OSError:  # thrift/page header errors and vanished files are OSErrors in pyarrow
                if attempt == READ_ATTEMPTS - 1:
                    raise
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")

    def _read_once(self, table: str, schema: pa.Schema, filters) -> pd.DataFrame:
        partitioning = ds.partitioning(pa.schema([(k, pa.string()) for k in PARTITION_KEYS]), flavor="hive")
        full = pa.unify_schemas([schema, partitioning.schema])
        base = f"{self.root}/{table}"
        if self.fs.get_file_info(base).type == pafs.FileType.NotFound:
            return full.empty_table().to_pandas()
        dataset = ds.dataset(base, schema=full, filesystem=self.fs, partitioning=partitioning)
        by_version: dict[int, list] = {}
        for fragment in dataset.get_fragments(filter=filters):  # each file says its schema version
            by_version.setdefault(file_version(fragment.physical_schema), []).append(fragment)
        if not by_version:
            return dataset.to_table(filter=filters).to_pandas()
        parts = []  # read from the same fragments: their footers are read once
        for version, fragments in sorted(by_version.items()):  # older files are upgraded
            files = ds.FileSystemDataset(fragments, full, dataset.format, self.fs)
            parts.append(upgrade(files.to_table(filter=filters), version, f"{base} ({fragments[0].path})"))
        return pa.concat_tables(parts).to_pandas()


def _filters(**values):
    expr = None
    for key, value in values.items():
        if value is None:
            continue
        term = ds.field(key) == (str(value) if key in PARTITION_KEYS else value)
        expr = term if expr is None else expr & term
    return expr if expr is not None else ds.scalar(True)


def _is_temporary(name: str, tag: str | None) -> bool:
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    return tag is None or f".{tag}-" in name


def _remove_quietly(fs, path: str) -> int:
    try:
        fs.delete_file(path)
        return 1
    except OSError:  # already gone (moved into place, or removed by another)
        return 0


def _part_first(name: str) -> int:
    return int(name.split("-")[1])


def _safe(key: str) -> str:
    """Partition values become directory names: refuse what would escape or split them."""
    if not key or any(c in key for c in "/\\=") or key.startswith("."):
        raise ValueError(f"store key must be non-empty, without '/', '\\\\', '=' or a leading '.': {key!r}")
    return key
