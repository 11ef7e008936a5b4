"""Versioned Arrow schemas of the Parquet store: the one place its columns are defined.

Layout under the store root (Hive partitioning, so ``pd.read_parquet(root / "curves")`` works
without this package and returns the partition keys as columns):

    runs/sweep_id=<sweep>/run_hash=<hash>/run.parquet                       one row per run
    curves/sweep_id=<sweep>/run_hash=<hash>/part-<first>-<last>.parquet     rows of steps first..last

Files whose names start with "." are in-flight temporaries; pyarrow and pandas ignore them.
"""

from __future__ import annotations

import pyarrow as pa

STORE_SCHEMA_VERSION = 1
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
    ],
    metadata={"search_scaling.schema_version": str(STORE_SCHEMA_VERSION)},
)
