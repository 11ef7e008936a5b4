"""`train_one(spec) -> RunResult`: the one entry point for a training run (CLI, tests, sweeps).

Run state lives in one Lightning checkpoint per run (``<workdir>/<run_hash>/last.ckpt``): model,
optimizer, LR schedule, loop counters and `RunTracker`'s curve rows. The data position is the step
(see `data`). A run found with a checkpoint resumes from it; a finished one returns at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from search_scaling.measures import ProgressMeasures
from search_scaling.models import flops_per_token, param_counts
from search_scaling.training import compiled, interventions, transfer, weights
from search_scaling.training import stop as stop_rules
from search_scaling.training.data import StepBatches, eval_batch
from search_scaling.training.evaluate import evaluate
from search_scaling.training.module import SequenceModel
from search_scaling.training.schedule import eval_steps
from search_scaling.training.spec import RunSpec, held_out_seed

CHECKPOINT = "last.ckpt"
# Fault injection for the sweep's fault tests (a diverging cell inside a real Ray sweep):
# "<run-hash prefix>:<step>" makes that run's loss NaN from that step on. Unset in normal use.
INJECT_NAN_ENV = "SEARCH_SCALING_INJECT_NAN"
# "<run-hash prefix>:setup" makes that run fail in its set-up, after its claim (the sweep's tests of
# failures between claim and training). Unset in normal use.
INJECT_FAULT_ENV = "SEARCH_SCALING_INJECT_FAULT"


class CurveSink(Protocol):
    """Where curve rows go as a run checkpoints (the store). Rows of one flush cover the steps
    ``first..last``; a replay after a crash flushes the same range again, so a sink keyed by
    range replaces instead of duplicating. A sink that holds a claim on the run raises `LostClaim`
    from any call once another worker has taken the run over, which stops training."""

    attempt: int  # the claim's attempt number: names this attempt's temporary files

    def write_curves(self, spec: RunSpec, rows: list[dict], first_step: int, last_step: int) -> None: ...

    def check_claim(self, spec: RunSpec, ask_ledger: bool = False) -> None:
        """Raise if the run's claim was lost: cheap (the heartbeat's latest answer) every batch,
        a ledger round trip with ``ask_ledger`` before a checkpoint replaces the last one."""

    # Optional: ``write_weights(spec, step, data)`` keeps a checkpoint (`weights`) in the store; a
    # sink without it (or no sink) keeps them in the run's work directory.


@dataclass
class RunResult:
    spec: RunSpec
    status: str  # done | diverged | pruned (stopped early by a hyperparameter search)
    final: dict[str, float]
    rows: list[dict]
    checkpoint: Path
    steps: int
    tokens: int
    train_seconds: float
    scale: dict = field(default_factory=dict)  # params_* and flops_per_token
    stop_reason: str | None = None  # target | plateau | budget | diverged (`stop.REASONS`); None: pruned
    training_mode: str = "eager"  # eager | compiled | packed; "<mode>@<step>,..." if a resume changed it

    @property
    def run_hash(self) -> str:
        return self.spec.run_hash


class RunTracker(L.Callback):
    """Evaluates on the held-out set at the scheduled steps, keeps the curve rows, detects
    divergence, applies the spec's stop rules (`stop`), checkpoints, and flushes rows to the sink.
    Its state is part of the checkpoint; a finished state (stopped, diverged) trains no further."""

    def __init__(self, spec, precision, held_out, schedule, flops_per_tok, ckpt_path, sink=None,
                 checkpoint_every_s: float = 30.0, verbose: bool = False, named=(),
                 mode: str = "eager"):  # fmt: skip
        self.spec, self.precision, self.held_out, self.schedule = spec, precision, held_out, set(schedule)
        self.named = named  # (split, task, batch) of each named evaluation set
        self.flops_per_tok, self.ckpt_path, self.sink = flops_per_tok, ckpt_path, sink
        self.checkpoint_every_s, self.verbose = checkpoint_every_s, verbose
        self.last_step = max(self.schedule)
        self.warmup_steps = max(1, round(spec.warmup * self.last_step))  # as `lr_multiplier` counts it
        self.nan_from = _injected_nan_step(spec)
        self.progress = ProgressMeasures(spec, schedule)  # probes, logit lens, attention scores
        self.mode = mode  # how this process trains the run (eager | compiled | packed)
        self.state = {"rows": [], "tokens": 0, "loss_sum": 0.0, "loss_n": 0, "elapsed": 0.0,
                      "flushed_to": -1, "status": "running", "stop_reason": None,
                      "modes": []}  # fmt: skip
        self._t0 = self._last_save = time.perf_counter()

    # -- Lightning hooks ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {**self.state, "elapsed": self._elapsed()}

    def load_state_dict(self, state: dict) -> None:
        # checkpoints made before stop rules lack a stop reason; before training modes were kept, the
        # modes (eager or packed: not recorded)
        self.state = {"stop_reason": None, "modes": [[0, "unrecorded"]] if state["tokens"] else [], **state}
        self._t0 = time.perf_counter() - state["elapsed"]

    def on_train_start(self, trainer, pl_module) -> None:
        self._t0 = time.perf_counter() - self.state["elapsed"]
        if self.state["status"] != "running":  # resumed from the checkpoint of a run that had stopped
            trainer.should_stop = True
            return
        modes = self.state["modes"]
        if not modes or modes[-1][1] != self.mode:  # a resume in another mode is said, not hidden
            modes.append([trainer.global_step, self.mode])
        if trainer.global_step == 0 and not self.state["rows"]:
            self._evaluate(trainer, pl_module, step=0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.state["tokens"] += int(batch["n_tokens"])
        value = float("nan") if trainer.global_step >= self.nan_from else float(loss)
        if not np.isfinite(value):
            self._diverge(trainer, trainer.global_step, value)
            return
        self.state["loss_sum"] += value
        self.state["loss_n"] += 1
        step = trainer.global_step
        if self.sink is not None:  # a superseded run stops within a batch of its heartbeat noticing
            self.sink.check_claim(self.spec)
        if step in self.schedule:
            self._evaluate(trainer, pl_module, step)
            if self.state["status"] != "running":  # stopped (and checkpointed) at this evaluation
                return
            if step == self.last_step or time.perf_counter() - self._last_save > self.checkpoint_every_s:
                self._checkpoint(trainer, step)

    @property
    def training_mode(self) -> str:
        """``eager`` | ``compiled`` | ``packed``, or ``<mode>@<first step>,...`` for a run whose
        resumes changed how it trained (the trajectory mixes modes: `compiled`)."""
        modes = self.state["modes"] or [[0, self.mode]]
        return modes[0][1] if len(modes) == 1 else ",".join(f"{mode}@{step}" for step, mode in modes)

    # -- for other callbacks (the hyperparameter search's reporter) ---------------------------------
    def metrics_at(self, step: int, split: str = "eval") -> dict[str, float]:
        rows = self.state["rows"]
        return {r["metric"]: r["value"] for r in rows if r["step"] == step and r["split"] == split}

    def flush(self, trainer, step: int) -> None:
        """Write the rows up to ``step`` to the sink and checkpoint, unless already done."""
        if self.state["flushed_to"] < step:
            self._checkpoint(trainer, step)

    def stop_early(self, trainer, status: str) -> None:
        """End the run here with ``status`` (e.g. ``pruned``); what was flushed is kept, and the
        checkpoint (still ``running``) lets a later run go on from it."""
        self.state["status"] = status
        trainer.should_stop = True

    # -- pieces ------------------------------------------------------------------------------------
    def _evaluate(self, trainer, pl_module, step: int) -> None:
        if self.spec.interventions:  # the model at `step` (a pack member has none: it trains alone)
            interventions.activate(pl_module.model, self.spec.interventions, step)
        metrics = self._measure(pl_module)
        if self.state["loss_n"]:
            self._rows(step, "train", {"loss": self.state["loss_sum"] / self.state["loss_n"],
                                       "lr": trainer.optimizers[0].param_groups[0]["lr"]})  # fmt: skip
            self.state["loss_sum"], self.state["loss_n"] = 0.0, 0
        self._rows(step, "eval", metrics)
        for split, task, batch in self.named:
            model = pl_module.model  # (a pack member's is made when asked for: ask once)
            with interventions.ablating(model, interventions.for_split(self.spec, split)):
                self._rows(step, split, evaluate(model, task, batch, self.precision))
        if weights.keeps(self.spec.keep_checkpoints, step, self.last_step) and np.isfinite(metrics["loss"]):
            self._keep(pl_module, step)
        if np.isfinite(metrics["loss"]):  # a diverged model has no mechanism to measure
            self._rows(step, "probe", self.progress(pl_module.model, step))
        if not np.isfinite(metrics["loss"]):
            self._diverge(trainer, step, metrics["loss"])
            return
        if self.verbose:
            print(f"  step {step:6d}  tokens {self.state['tokens']:>11,}  loss {metrics['loss']:.4f}  "
                  f"exact {metrics.get('exact', float('nan')):.3f}  ({self._elapsed():.0f}s)")  # fmt: skip
        reason = stop_rules.decide(self.spec.stop, self.state["rows"], step, self.warmup_steps)
        if reason is not None:
            self._stop(trainer, step, reason)

    def _measure(self, pl_module) -> dict[str, float]:
        """The held-out metrics now (a packed run's tracker takes them from the pack's evaluation)."""
        return evaluate(pl_module.model, self.spec.task_obj, self.held_out, self.precision)

    def _keep(self, pl_module, step: int) -> None:
        data = weights.payload(self.spec, step, pl_module.model)
        if hasattr(self.sink, "write_weights"):
            self.sink.write_weights(self.spec, step, data)
        else:
            weights.save_local(self.ckpt_path.parent / "weights", data)

    def _rows(self, step: int, split: str, metrics: dict) -> None:
        tokens = self.state["tokens"]
        common = {"step": step, "tokens": tokens, "flops": tokens * self.flops_per_tok, "split": split,
                  "wall_time": self._elapsed()}  # fmt: skip
        self.state["rows"] += [{**common, "metric": k, "value": float(v)} for k, v in metrics.items()]

    def _stop(self, trainer, step: int, reason: str) -> None:
        """End the run finished at ``step`` on a stop rule: checkpointed with its reason, so a resumed
        run returns at once instead of training on."""
        self.state["status"], self.state["stop_reason"] = "done", reason
        trainer.should_stop = True
        self._checkpoint(trainer, step)
        if self.verbose:
            print(f"  stopped at step {step}: {reason} ({self.spec.stop[reason]})")

    def _diverge(self, trainer, step: int, value: float) -> None:
        self.state["status"], self.state["stop_reason"] = "diverged", "diverged"
        self._rows(step, "train", {"loss": value})
        trainer.should_stop = True
        self._checkpoint(trainer, step)

    def _checkpoint(self, trainer, step: int) -> None:
        pending = [r for r in self.state["rows"] if r["step"] > self.state["flushed_to"]]
        if self.sink is not None and pending:
            self.sink.write_curves(self.spec, pending, self.state["flushed_to"] + 1, step)
        self.state["flushed_to"] = step
        self.state["elapsed"] = self._elapsed()
        if self.state["status"] == "running" and step == self.last_step:
            self.state["status"], self.state["stop_reason"] = "done", "budget"
        tmp = self.ckpt_path.with_name(f".{CHECKPOINT}.{_tag(self.sink)}-{uuid.uuid4().hex[:8]}.tmp")
        try:
            trainer.save_checkpoint(tmp, weights_only=False)  # full state: optimizer, loops, callbacks
            if self.sink is not None:  # the save may take long: is this still our run?
                self.sink.check_claim(self.spec, ask_ledger=True)
            os.replace(tmp, self.ckpt_path)  # a kill mid-save leaves the previous checkpoint intact
        finally:
            tmp.unlink(missing_ok=True)  # moved into place, or abandoned (error, Ctrl-C, lost claim)
        self._last_save = time.perf_counter()

    def _elapsed(self) -> float:
        return time.perf_counter() - self._t0


class StepData(L.LightningDataModule):
    """Feeds `StepBatches` from the restored global step (the data position)."""

    def __init__(self, spec: RunSpec, total: int):
        super().__init__()
        self.spec, self.total = spec, total

    def train_dataloader(self) -> DataLoader:
        spec = self.spec
        start = self.trainer.global_step if self.trainer is not None else 0
        data = StepBatches(spec.train_task, spec.size, spec.derived_seed("data", data_only=True),
                           spec.batch_size, self.total, spec.loss_mask, spec.mask_switch, start)  # fmt: skip
        return DataLoader(data, batch_size=None, num_workers=0)


def train_one(spec: RunSpec, workdir: Path | str = "runs/work", sink: CurveSink | None = None,
              verbose: bool = False, progress_bar: bool = False, checkpoint_every_s: float = 30.0,
              callbacks: tuple = (), plan: tuple | None = None, init_weights: dict | None = None,
              ) -> RunResult:  # fmt: skip
    """Train (or resume, or return) the run ``spec``; ``callbacks`` are extra Lightning callbacks;
    ``plan`` is `plan_run(spec)` when the caller has it already; ``init_weights`` is the state dict
    of the source run a ``spec.init_from`` names (`record_run` reads it from the store)."""
    quiet_lightning()
    run_dir = Path(workdir).resolve() / spec.run_hash
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / CHECKPOINT
    for leftover in run_dir.glob(f".{CHECKPOINT}.*.tmp"):  # of attempts that were killed mid-save
        if not leftover.name.startswith(f".{CHECKPOINT}.{_tag(sink)}-"):
            leftover.unlink(missing_ok=True)
    held_out, total, scale = plan or plan_run(spec)
    precision = resolve_precision(spec.precision)

    step_tokens = spec.batch_size * float(held_out.length.mean())
    compile_step, why = compiled.decide(spec, total, _device_type(), step_tokens)
    if verbose:
        print(f"  {spec.label}: {why}")

    L.seed_everything(spec.derived_seed("init") % 2**32, verbose=False)
    module = SequenceModel(spec, total, compile_step)
    _start_from(module.model, spec, init_weights, resuming=ckpt.exists())
    schedule = eval_steps(total, spec.eval_points)
    tracker = RunTracker(spec, precision, held_out, schedule, scale["flops_per_token"], ckpt, sink,
                         checkpoint_every_s, verbose, named_eval_batches(spec),
                         "compiled" if compile_step else "eager")  # fmt: skip
    trainer = L.Trainer(
        max_steps=total, max_epochs=-1, accelerator="auto", devices=1, precision=precision,
        gradient_clip_val=spec.grad_clip or None, logger=False, enable_checkpointing=False,
        enable_model_summary=False, enable_progress_bar=progress_bar, num_sanity_val_steps=0,
        limit_val_batches=0, callbacks=[tracker, *callbacks], default_root_dir=str(run_dir),
    )  # fmt: skip
    resume = ckpt if ckpt.exists() else None
    _fit(trainer, module, StepData(spec, total), resume)
    state = tracker.state
    if state["status"] == "running":  # the loop ended without reaching the last step
        raise RuntimeError(f"run {spec.run_hash}: training stopped at step {trainer.global_step} of {total}")
    last = trainer.global_step
    final = {r["metric"]: r["value"] for r in state["rows"] if r["split"] == "eval" and r["step"] == last}
    return RunResult(spec, state["status"], final, list(state["rows"]), ckpt, trainer.global_step,
                     state["tokens"], state["elapsed"], scale, state["stop_reason"],
                     tracker.training_mode)  # fmt: skip


def named_eval_batches(spec: RunSpec) -> list[tuple]:
    """(split, task, held-out batch) of each named evaluation set, seeded like the held-out set."""
    out = []
    for s in spec.eval_sets:
        seed = held_out_seed(spec.task, s.options, s.size)
        out.append((s.split, s.task, eval_batch(s.task, s.size, spec.eval_examples, seed)))
    return out


def _start_from(model, spec: RunSpec, init_weights: dict | None, resuming: bool) -> None:
    """Load the source's weights (unless resuming: the checkpoint has the run's own) and freeze
    the named parts before the optimiser sees the parameters."""
    if spec.init_from and not resuming:
        if init_weights is None:
            raise ValueError(f"run {spec.run_hash} starts from run {spec.init_from['run']}: pass its weights "
                             "(init_weights; record_run reads them from the store)")  # fmt: skip
        transfer.load_weights(model, init_weights, spec.init_from["run"])
    transfer.apply_freeze(model, spec.freeze, spec.model_config)


def _fit(trainer: L.Trainer, module, data, resume) -> None:
    """``trainer.fit`` with Ctrl-C kept a KeyboardInterrupt: Lightning turns it into ``sys.exit(1)``
    and ignores SIGINT from then on, but the caller must know the run was interrupted (to release
    its cell) and a second Ctrl-C must still work."""
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    try:
        trainer.fit(module, datamodule=data, ckpt_path=resume, weights_only=True)
    except SystemExit as exit_:
        if isinstance(exit_.__context__, KeyboardInterrupt):
            raise exit_.__context__ from None
        raise
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)


def _tag(sink) -> str:
    """This attempt's name in temporary file names: ``a<attempt>`` (``a0`` without a claim)."""
    return f"a{getattr(sink, 'attempt', 0)}"


def inject_fault(spec: RunSpec, point: str) -> None:
    """Raise at ``point`` if `INJECT_FAULT_ENV` names this run and that point."""
    prefix, _, at = os.environ.get(INJECT_FAULT_ENV, "").partition(":")
    if prefix and spec.run_hash.startswith(prefix) and at == point:
        raise RuntimeError(f"run {spec.run_hash}: fault injected at {point!r} by {INJECT_FAULT_ENV}")


def _injected_nan_step(spec: RunSpec) -> float:
    """The step from which `INJECT_NAN_ENV` makes this run's loss NaN (inf: never)."""
    prefix, _, at = os.environ.get(INJECT_NAN_ENV, "").partition(":")
    return int(at or 0) if prefix and spec.run_hash.startswith(prefix) else float("inf")


def plan_run(spec: RunSpec):
    """(held-out batch, total steps, scale): the budget in tokens becomes steps through the mean
    held-out length, which is also the context used for the attention FLOPs."""
    held_out = eval_batch(spec.task_obj, spec.size, spec.eval_examples, spec.eval_seed)
    mean_len = float(held_out.length.mean())
    cfg = spec.model_config
    scale = {**param_counts(cfg), "flops_per_token": flops_per_token(cfg, context=round(mean_len))}
    return held_out, spec.total_steps(mean_len), scale


def quiet_lightning() -> None:
    """Lightning's banner lines and tips would interleave with every trial's output in a sweep."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")


def _device_type() -> str:
    """Where ``accelerator="auto"`` trains: cuda, mps, or cpu (compiled steps: cpu and cuda)."""
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


def resolve_precision(precision: str) -> str:
    if precision != "auto":
        return precision
    return "bf16-mixed" if torch.cuda.is_available() else "32-true"
