"""Popularity and ItemCF against hand-computed scores."""
import math

import numpy as np
import pytest
import torch

from recai.data import Interactions
from recai.errors import DataError
from recai.recsys import ItemCF, Popularity


def tiny():
    # a: [0, 1], b: [0, 1, 2], c: [2, 3, 2] (item 2 repeated: counts twice for popularity, once for ItemCF)
    return Interactions.from_events(list("aabbbccc"), [0, 1, 0, 1, 2, 2, 3, 2], n_items=5)


def test_popularity_counts_events_and_excludes_seen():
    model = Popularity().fit(tiny())
    assert model.score([0, 1]).tolist() == [[2, 2, 3, 1, 0]] * 2
    scores, items = model.recommend([0], [[2, 0]], k=2)
    assert items.tolist() == [[1, 3]] and scores.tolist() == [[2, 1]]
    _, items = model.recommend([0], [[2, 0]], k=1, exclude_seen=False)
    assert items.tolist() == [[2]]


def test_itemcf_cosine_by_hand():
    model = ItemCF(neighbors=None).fit(tiny())
    # distinct users per item: 0:{a,b} 1:{a,b} 2:{b,c} 3:{c}; co-occurrence 01=2, 02=1, 12=1, 23=1
    s = 1 / math.sqrt(2)
    expected = torch.tensor([[0, 1, .5, 0, 0], [1, 0, .5, 0, 0], [.5, .5, 0, s, 0], [0, 0, s, 0, 0], [0] * 5])
    torch.testing.assert_close(model.sim.to_dense(), expected)
    # score = sum of similarity rows over the history's distinct items; a repeat counts once
    torch.testing.assert_close(model.score(None, [[0, 3], [3, 3]]),
                               torch.tensor([[0, 1, .5 + s, 0, 0], [0, 0, s, 0, 0]]))
    _, items = model.recommend(None, [[0, 3]], k=2)
    assert items.tolist() == [[2, 1]]  # 0.5 + 0.71 beats 1


def test_itemcf_keeps_only_the_largest_neighbors():
    model = ItemCF(neighbors=1).fit(tiny())
    dense = model.sim.to_dense()
    assert (dense > 0).sum(1).tolist() == [1, 1, 1, 1, 0]
    assert dense[2, 3] == pytest.approx(1 / math.sqrt(2))  # item 2's best neighbour is 3, not 0 or 1


def test_itemcf_chunked_fit_matches_one_block(monkeypatch):
    rng = np.random.default_rng(0)
    data = Interactions.from_events(rng.integers(0, 30, 400), rng.integers(0, 50, 400), n_items=50)
    whole = ItemCF(neighbors=None).fit(data).sim.to_dense()
    monkeypatch.setattr("recai.recsys.itemcf.CHUNK", 7)
    torch.testing.assert_close(ItemCF(neighbors=None).fit(data).sim.to_dense(), whole)


@pytest.mark.parametrize("model", [Popularity(), ItemCF()])
def test_fit_on_empty_data_names_the_problem(model):
    empty = Interactions.from_events([], [], n_items=3)
    with pytest.raises(DataError, match="0 users"):
        model.fit(empty)


def test_itemcf_rejects_out_of_range_history():
    model = ItemCF().fit(tiny())
    with pytest.raises(ValueError, match="history row 1 holds item index 9"):
        model.score(None, [[0], [9]])
    with pytest.raises(ValueError, match="needs histories"):
        model.score([0], None)
