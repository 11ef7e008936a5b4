"""Kept checkpoints: a run's model weights at chosen steps, for transfer and analysis.

A kept checkpoint is weights only, a dict that ``torch.load(..., weights_only=True)`` opens:
``{"format", "run_hash", "step", "spec_json", "model": state_dict}`` (CPU tensors). It is separate
from the resume checkpoint (``last.ckpt``: optimizer, loops, curve rows), which is replaced as a
run goes and stays on the worker. Through the stores, kept checkpoints live beside the curves
(`search_scaling.store.weights`); without a store, in the run's work directory.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

FORMAT = 1
NAME = "step-{step:09d}.pt"


def keeps(policy: str, step: int, last_step: int) -> bool:
    """Whether ``policy`` (none | final | log) keeps the weights at evaluation step ``step``."""
    return policy == "log" or (policy == "final" and step == last_step)


def kept_bytes(spec, total_steps: int) -> int:
    """About how many bytes a run's kept checkpoints take (fp32 weights; for `validate`)."""
    from search_scaling.models import param_counts
    from search_scaling.training.schedule import eval_steps

    count = {"none": 0, "final": 1, "log": len(eval_steps(total_steps, spec.eval_points))}
    weights = 4 * param_counts(spec.model_config)["params_total"] + 2048  # + names, spec, pickle framing
    return count[spec.keep_checkpoints] * weights


def payload(spec, step: int, model: torch.nn.Module) -> dict:
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return {"format": FORMAT, "run_hash": spec.run_hash, "step": int(step), "spec_json": spec.to_json(),
            "model": state}  # fmt: skip


def to_bytes(data: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return buffer.getvalue()


def from_bytes(raw: bytes, where: str) -> dict:
    """A kept checkpoint read back (weights only: no code runs on load)."""
    try:
        data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- a truncated or foreign file: say which
        raise ValueError(f"{where}: not a readable kept checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or "model" not in data:
        raise ValueError(f"{where}: not a kept checkpoint (no 'model' weights)")
    return data


def save_local(directory: Path, data: dict) -> Path:
    """Write a kept checkpoint under ``directory`` atomically (runs trained without a store)."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / NAME.format(step=data["step"])
    tmp = final.with_name(f".{final.name}.tmp")
    tmp.write_bytes(to_bytes(data))
    tmp.replace(final)
    return final
