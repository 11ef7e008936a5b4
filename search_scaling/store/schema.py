"""Versioned Arrow schemas of the Parquet store: the one place its columns are defined.

Layout under the store root (Hive partitioning, so ``pd.read_parquet(root / "curves")`` works
without this package and returns the partition keys as columns):

    runs/sweep_id=<sweep>/run_hash=<hash>/run.parquet                       one row per run
    curves/sweep_id=<sweep>/run_hash=<hash>/part-<first>-<last>.parquet     rows of steps first..last
    weights/sweep_id=<sweep>/run_hash=<hash>/step-<step>.pt                 kept checkpoints (weights only)

Files whose names start with "." are in-flight temporaries; pyarrow and pandas ignore them.

Curve splits (one convention for every reader):
- ``train``: the training loss and learning rate, averaged since the previous evaluation;
- ``eval``: the held-out set of the task as the run defines it;
- ``eval:<name>``: the run's named evaluation set ``<name>`` (`RunSpec.evals`: other task options
  and/or problem size), scored with the same metrics at the same steps as ``eval``. A reader that
  wants the held-out curve selects ``split == "eval"`` exactly; ``split.str.startswith("eval:")``
  selects the named sets, and the name is what follows the colon;
- ``probe``: mechanistic progress measures (`search_scaling.measures`: wall probes, logit lens,
  attention scores) on the task's fixed probe set, at every (k-th) evaluation step.

Versions (``search_scaling.schema_version`` in each file's metadata):
- 1: splits ``train`` and ``eval`` only.
- 2: adds the ``eval:<name>`` splits and the ``weights`` table. The columns did not change, so a
  version-1 file reads as version 2 unchanged (`upgrade`); a file newer than this code is refused.
- 3: adds the runs columns ``stop_reason`` and ``stopped_step`` (`search_scaling.training.stop`).
  An older runs file reads with both null (the reader's schema fills columns a file lacks).
- 4: adds the runs column ``training_mode``: how the run was trained (``eager``, ``compiled``,
  ``packed``; ``<mode>@<step>,...`` when a resume changed it: `training.compiled`). The run hash
  names the experiment; the modes compute it in different fp32 orders, so their trajectories agree
  within fp32 tolerance for tens of steps, then drift apart. Null in older files.
"""

from __future__ import annotations

import pyarrow as pa

STORE_SCHEMA_VERSION = 4
VERSION_KEY = b"search_scaling.schema_version"
PARTITION_KEYS = ("sweep_id", "run_hash")  # directory names, not columns inside the files

CURVES_SCHEMA = pa.schema(
    [
        pa.field("step", pa.int64(), nullable=False),
        pa.field("tokens", pa.int64(), nullable=False),  # real (non-padding) training tokens seen
        pa.field("flops", pa.float64(), nullable=False),  # tokens * training FLOPs per token
        pa.field("split", pa.string(), nullable=False),  # train | eval
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("wall_time", pa.float64(), nullable=False),  # seconds since the run started
    ],
    metadata={"search_scaling.schema_version": str(STORE_SCHEMA_VERSION)},
)

RUNS_SCHEMA = pa.schema(
    [
        pa.field("task", pa.string()),
        pa.field("task_size", pa.int64()),
        pa.field("size_name", pa.string()),  # what the task calls its size, e.g. grid_n
        pa.field("model", pa.string()),  # size-family name, e.g. L2-D32
        pa.field("n_layers", pa.int64()),
        pa.field("d_model", pa.int64()),
        pa.field("n_heads", pa.int64()),
        pa.field("d_head", pa.int64()),
        pa.field("d_mlp", pa.int64()),
        pa.field("d_vocab", pa.int64()),
        pa.field("n_ctx", pa.int64()),
        pa.field("params_embed", pa.int64()),
        pa.field("params_nonembed", pa.int64()),
        pa.field("params_total", pa.int64()),
        pa.field("flops_per_token", pa.float64()),
        pa.field("seed", pa.int64()),
        pa.field("steps", pa.int64()),  # optimizer updates done
        pa.field("tokens", pa.int64()),
        pa.field("status", pa.string()),  # running | done | failed | diverged
        pa.field("started_at", pa.timestamp("us", tz="UTC")),
        pa.field("finished_at", pa.timestamp("us", tz="UTC")),
        pa.field("train_seconds", pa.float64()),
        pa.field("final_json", pa.string()),  # last evaluation's metrics
        pa.field("spec_json", pa.string()),  # the resolved RunSpec
        pa.field("code_version", pa.string()),
        pa.field("error", pa.string()),  # why a failed run failed ("interrupted" for Ctrl-C); else null
        # Why a finished run ended: target | plateau (its stop rules) | budget (its last step) | diverged;
        # null while running, for failed and pruned runs, and in files older than version 3.
        pa.field("stop_reason", pa.string()),
        pa.field("stopped_step", pa.int64()),  # the step it ended at (== steps), null with stop_reason
        pa.field("training_mode", pa.string()),  # eager | compiled | packed | "<mode>@<step>,..."; or null
    ],
    metadata={"search_scaling.schema_version": str(STORE_SCHEMA_VERSION)},
)


def file_version(schema: pa.Schema) -> int:
    """The store schema version a file was written with (1 for files without the key)."""
    return int((schema.metadata or {}).get(VERSION_KEY, b"1"))


def upgrade(table: pa.Table, version: int, where: str = "store file") -> pa.Table:
    """Rows written under ``version`` as rows of the current version (version 1 -> 2: no column
    changed, the named-set splits are new; 2 -> 3 and 3 -> 4: the new runs columns come back null,
    filled by the reader's schema), or a ValueError for a file newer than this code."""
    if version > STORE_SCHEMA_VERSION:
        raise ValueError(f"{where} has store schema version {version}, newer than this code's "
                         f"{STORE_SCHEMA_VERSION}: upgrade search-scaling to read it")  # fmt: skip
    return table
