"""Interactions, k-core, splits and negative samples on small hand-made histories."""
import numpy as np
import pytest

from recai.data import Interactions, leave_one_out, temporal_split
from recai.data.negatives import read_negatives, sample_negatives, write_negatives
from recai.errors import DataError


def make(events, n_items=6):
    users, items, times = zip(*events)
    return Interactions.from_events(users, items, n_items, times)


def test_events_grouped_by_user_then_time_with_stable_ties():
    data = make([("b", 3, 5), ("a", 1, 2), ("b", 0, 1), ("a", 2, 2), ("a", 4, 1)])
    assert data.user_ids == ["b", "a"]  # first appearance order
    assert [s.tolist() for s in data.sequences()] == [[0, 3], [4, 1, 2]]  # a's tie at t=2 keeps input order
    assert data.lengths().tolist() == [2, 3] and len(data) == 5
    assert data.item_counts().tolist() == [1, 1, 1, 1, 1, 0]


def test_item_out_of_range_is_refused():
    with pytest.raises(DataError, match="out of range"):
        Interactions.from_events(["u"], [7], n_items=3)


def test_kcore_iterates_until_stable():
    # Item 5 has one event; dropping it leaves user "c" with one event, so "c" goes in round two.
    events = [(u, i, t) for t, (u, i) in enumerate(
        [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 1), ("c", 5), ("d", 0), ("d", 1)])]
    core = make(events).kcore(min_user=2, min_item=2)
    assert core.user_ids == ["a", "b", "d"]
    assert [s.tolist() for s in core.sequences()] == [[0, 1], [0, 1], [0, 1]]
    renum = core.reindex_items(np.array([1, 0]))
    assert renum.n_items == 2 and renum.sequence(0).tolist() == [1, 0]


def test_leave_one_out():
    data = make([("a", i, t) for t, i in enumerate([0, 1, 2, 3])] + [("b", 4, 0), ("b", 5, 1)])
    split = leave_one_out(data)
    assert split.train.sequence(0).tolist() == [0, 1] and split.train.sequence(1).tolist() == [4, 5]
    assert split.valid.users.tolist() == [0] and split.valid.targets.tolist() == [[2]]
    assert split.valid.history[0].tolist() == [0, 1]
    assert split.test.targets.tolist() == [[3]] and split.test.history[0].tolist() == [0, 1, 2]
    with pytest.raises(DataError, match="at least 3 events"):
        leave_one_out(make([("a", 0, 0), ("a", 1, 1)]))


def test_temporal_split_cuts_the_global_timeline():
    # 10 events at times 0..9: valid = times 8, test = time 9 (10% each).
    events = [("a", 0, 0), ("a", 1, 2), ("a", 2, 8), ("b", 3, 1), ("b", 4, 3), ("b", 5, 9),
              ("c", 1, 4), ("c", 2, 5), ("c", 3, 6), ("c", 4, 7)]
    split = temporal_split(make(events), valid=0.1, test=0.1)
    assert len(split.train) == 8
    assert split.valid.users.tolist() == [0] and split.valid.targets.tolist() == [[2]]
    assert split.test.users.tolist() == [1] and split.test.history[0].tolist() == [3, 4]
    with pytest.raises(DataError, match="fractions"):
        temporal_split(make(events), valid=0.6, test=0.5)


def test_negatives_exclude_seen_and_round_trip(tmp_path):
    data = make([("a", 0, 0), ("a", 1, 1), ("b", 2, 0)], n_items=6)
    neg = sample_negatives(data, np.array([0, 1]), n=3, seed=1)
    assert neg.shape == (2, 3)
    assert not set(neg[0]) & {0, 1} and not set(neg[1]) & {2}
    assert all(len(set(row)) == 3 for row in neg)
    assert (neg == sample_negatives(data, np.array([0, 1]), n=3, seed=1)).all()
    item_ids = [f"i{k}" for k in range(6)]
    path = write_negatives(tmp_path / "neg.txt", data.user_ids, item_ids, np.array([0, 1]), neg)
    back = read_negatives(path, {iid: k for k, iid in enumerate(item_ids)})
    assert back["a"].tolist() == neg[0].tolist() and back["b"].tolist() == neg[1].tolist()
    with pytest.raises(DataError, match="cannot sample 5"):
        sample_negatives(data, np.array([0]), n=5)
    (tmp_path / "bad.txt").write_text("a i0 zz\n")
    with pytest.raises(DataError, match="bad.txt:1: unknown item id 'zz'"):
        read_negatives(tmp_path / "bad.txt", {"i0": 0})
