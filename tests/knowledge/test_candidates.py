"""Candidate lists hold the target once, never a history item, and come out the same for a seed."""
import random

import pytest

from recai.knowledge.candidates import sample_candidates


@pytest.mark.parametrize("how", ["random", "popularity"])
def test_target_once_history_never(how):
    popularity = [1000 if i < 5 else 1 for i in range(100)]
    for seed in range(20):
        c = sample_candidates(7, history=[1, 2, 3], n_items=100, n=20, how=how, popularity=popularity,
                              rng=random.Random(seed))
        assert len(c) == len(set(c)) == 20 and c.count(7) == 1 and not {1, 2, 3} & set(c)
    a = sample_candidates(7, [1], 100, 20, how, popularity, random.Random(3))
    assert a == sample_candidates(7, [1], 100, 20, how, popularity, random.Random(3))


def test_popularity_sampling_prefers_popular_items():
    popularity = [1000 if i < 10 else 0 for i in range(200)]
    c = sample_candidates(150, [], 200, 11, "popularity", popularity, random.Random(0))
    assert len(set(c) & set(range(10))) >= 8


def test_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="unknown candidate sampling 'hard'"):
        sample_candidates(0, [], 10, 5, "hard")
    with pytest.raises(ValueError, match="cannot draw 9 negatives"):
        sample_candidates(0, [1, 2], 8, 10)
    with pytest.raises(ValueError, match="needs the items' interaction counts"):
        sample_candidates(0, [], 10, 5, "popularity")
