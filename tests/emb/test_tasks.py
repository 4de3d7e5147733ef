"""RecLM-emb tasks: all ten built on ml-latest-small, held-out queries unseen in training, hard negatives
that break a requested attribute, and the evaluation's ranks against a hand check."""
import random

import pytest
import torch

import recai.data as rd
from recai.emb.evaluate import target_ranks
from recai.emb.tasks import TASKS, USER_TASKS, Query, build_tasks, misspell
from recai.errors import DataError


@pytest.fixture(scope="module")
def ml():
    return rd.load()


@pytest.fixture(scope="module")
def split(ml):
    return build_tasks(ml.catalog, ml.interactions, n_train=60, n_test=20, seed=1)


def test_all_ten_tasks_with_unseen_test_queries(split, ml):
    assert {q.task for q in split.train} == set(TASKS) == {q.task for q in split.test}
    assert not split.skipped
    train_targets = {q.target for q in split.train}
    assert not train_targets & split.test_items  # a held-out item is never a training positive
    for q in split.test:
        if q.task not in USER_TASKS and q.task != "similar_item":
            assert q.target in split.test_items
    again = build_tasks(ml.catalog, ml.interactions, n_train=5, n_test=20, seed=1)
    assert [(q.text, q.target) for q in again.test] == [(q.text, q.target) for q in split.test]  # test set fixed


def test_hard_negatives_break_a_requested_attribute(split, ml):
    genres, years = ml.catalog.values("genres"), ml.catalog.values("year")
    for q in split.train:
        for n in q.negatives:
            assert n != q.target
            if q.task == "negative_attributes":
                # every phrasing ends with the excluded genre, which the negative has
                assert any(q.text.endswith(" " + g) for g in genres[n] or [])
            if q.task == "full_attributes":
                assert abs(years[n] - years[q.target]) >= 5


def test_misspellings_stay_close_and_bad_input(ml):
    rng = random.Random(0)
    for title in ["Matrix, The", "Toy Story", "Star Wars: Episode IV - A New Hope"]:
        typo = misspell(title, rng)
        assert typo != title and abs(len(typo) - len(title)) <= len(title) // 2 + 3
    with pytest.raises(DataError, match="unknown RecLM-emb tasks"):
        build_tasks(ml.catalog, ml.interactions, tasks=["history_next", "telepathy"])


def test_target_ranks_by_hand():
    items = torch.eye(4)
    q = torch.tensor([[0.9, 0.1, 0.0, 0.0], [0.0, 0.0, 0.2, 0.1]])
    queries = [Query("t", "a", target=1, exclude=[0]), Query("t", "b", target=0)]
    ranks, ids = target_ranks(q, items, queries, depth=2)
    assert ranks.flatten().tolist() == [1, 3]  # item 0 excluded -> item 1 first; target 0 beyond depth 2
    assert ids[1].tolist() == [2, 3]
