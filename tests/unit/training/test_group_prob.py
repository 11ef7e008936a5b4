"""``<group>_prob``: the per-example probability of a token group, averaged over examples, on a model
whose every token probability is known (uniform logits: each token has probability 1 / V)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from search_scaling.tasks.base import token_groups
from search_scaling.tasks.maze.task import MazeTask
from search_scaling.training.evaluate import _teacher_forced, summarise


def test_decision_prob_is_the_mean_of_per_example_products_not_exp_of_minus_the_loss():
    task = MazeTask(generator="dfs")
    batch = task.generate(64, 4, np.random.default_rng(0))
    vocab = task.vocab_size(4)
    uniform = lambda inputs: torch.zeros(*inputs.shape, vocab)  # noqa: E731  [n, T-1, V]: p = 1/V each
    sums = _teacher_forced(uniform, task, batch, np.arange(len(batch)), torch.device("cpu"))
    out = summarise(task, len(batch), sums, {})
    groups = token_groups(batch, np.arange(len(batch))) * batch.answer_mask[:, 1:]  # [n, T-1]
    n_decisions = (groups == 2).sum(axis=1)  # code 2: "decision" (TOKEN_GROUPS[1])
    assert len(np.unique(n_decisions)) > 1  # the examples vary: the two nulls must differ
    assert out["decision_loss"] == pytest.approx(np.log(vocab), rel=1e-5)
    assert out["decision_prob"] == pytest.approx(np.mean(float(vocab) ** -n_decisions), rel=1e-4)
    assert out["decision_prob"] > np.exp(-out["decision_loss"] * n_decisions.mean())  # Jensen
