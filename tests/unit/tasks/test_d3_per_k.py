"""d3 reports exact accuracy per composition count (``exact_k_<k>``), the axis of its staircases."""

from __future__ import annotations

import numpy as np

from search_scaling.tasks import get_task


def test_exact_accuracy_per_composition_count_of_planted_answers():
    task = get_task("d3")
    batch = task.generate(300, 3, np.random.default_rng(0))
    answers = batch.tokens[np.arange(300), batch.prompt_len].copy()
    wrong_for_k3 = batch.extras["k"] == 3
    answers[wrong_for_k3] = (answers[wrong_for_k3] + 1) % 6  # every chain of 3 answered wrong
    metrics = task.score(batch, answers[:, None])
    assert np.nanmean(metrics["exact_k_1"]) == 1.0 and np.nanmean(metrics["exact_k_2"]) == 1.0
    assert np.nanmean(metrics["exact_k_3"]) == 0.0
    assert (batch.extras["k"] == batch.size).all() and set(np.unique(batch.extras["k"])) == {1, 2, 3}
