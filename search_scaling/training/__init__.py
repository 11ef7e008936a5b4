"""Training: `RunSpec` in, `RunResult` out, through `train_one` (Lightning on CPU or one GPU)."""

from search_scaling.training.run import CurveSink, RunResult, train_one
from search_scaling.training.spec import RunSpec

__all__ = ["CurveSink", "RunResult", "RunSpec", "train_one"]
