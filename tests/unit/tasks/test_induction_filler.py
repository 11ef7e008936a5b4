"""The induction task's ``filler`` option: distinct filler tokens split at random before and
between the two copies, so neither the copy's distance nor "the earliest token not yet repeated"
gives the answer (see `search_scaling.tasks.recall`)."""

from __future__ import annotations

import numpy as np
import pytest

from search_scaling.tasks import get_task


def test_a_hand_placed_filler_lands_before_and_between_the_copies():
    task = get_task("induction", n_vocab=16, filler=3)
    seq = task._encode(np.array([[5, 6]]), np.array([[7, 8, 9]]), np.array([1]))
    assert seq[0].tolist() == [16, 7, 5, 6, 8, 9, 5, 6]  # BOS, one filler, r, two filler, r


def test_filler_batches_repeat_r_at_a_varying_distance_with_every_token_distinct():
    task = get_task("induction", n_vocab=16, filler=4)
    batch = task.generate(200, 5, np.random.default_rng(0))
    assert batch.tokens.shape == (200, 15) and (batch.prompt_len == 11).all() and (batch.length == 15).all()
    assert np.nonzero(batch.answer_mask[0])[0].tolist() == [11, 12, 13, 14]  # copy from its second token
    second = batch.tokens[:, 10:15]
    distance = []
    for row, r in zip(batch.tokens, second):
        assert len(set(row[1:10].tolist())) == 9  # r and the filler: all distinct
        start = int(np.flatnonzero(row[1:10] == r[0])[0]) + 1
        assert row[start : start + 5].tolist() == r.tolist()
        distance.append(10 - start)
    assert sorted(set(distance)) == [5, 6, 7, 8, 9]  # the copy is 5 + (filler between) back


def test_no_filler_keeps_the_data_and_a_filler_too_large_is_refused():
    plain = get_task("induction", n_vocab=16).generate(20, 5, np.random.default_rng(3))
    zero = get_task("induction", n_vocab=16, filler=0).generate(20, 5, np.random.default_rng(3))
    assert (plain.tokens == zero.tokens).all()
    with pytest.raises(ValueError, match="induction.filler must be an integer in"):
        get_task("induction", n_vocab=16, filler=15)
    with pytest.raises(ValueError):
        get_task("induction", n_vocab=16, filler=10).generate(4, 7, np.random.default_rng(0))  # 7 + 10 > 16
