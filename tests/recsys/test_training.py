"""Training pieces: windows, BPR triples, the loss, the lr schedule, early stopping."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from recai.data import Interactions
from recai.errors import DataError
from recai.recsys.batches import bpr_triples, sequence_windows
from recai.recsys.training import EarlyStopping, TrainConfig, bpr_loss, lr_at


def test_sequence_windows_cover_every_target_once_from_the_end():
    x, y = sequence_windows([np.array([5, 6, 7, 8, 9, 10]), np.array([1, 2]), np.array([4])], max_len=3)
    # user 0 targets 6..10: last window inputs 7,8,9 -> targets 8,9,10; then inputs 5,6 -> targets 6,7
    assert x.tolist() == [[8, 9, 10], [6, 7, 0], [2, 0, 0]]  # items + 1, 0 pads on the right
    assert y.tolist() == [[8, 9, 10], [6, 7, -1], [2, -1, -1]]


def test_overlapping_windows_still_cover_every_target_once():
    x, y = sequence_windows([np.array([5, 6, 7, 8, 9, 10])], max_len=3, stride=2)
    # windows end at targets 10 and 8; the first keeps only its 2 newest targets, the oldest keeps all
    assert x.tolist() == [[8, 9, 10], [6, 7, 8]]
    assert y.tolist() == [[-1, 9, 10], [6, 7, 8]]
    long = np.arange(100, 230)
    for stride in (1, 7, 25, 50):
        x, y = sequence_windows([long], max_len=50, stride=stride)
        assert sorted(y[y >= 0].tolist()) == list(range(101, 230))  # each target exactly once
        first_kept = (y >= 0).float().argmax(1)
        assert int(first_kept[:-1].min()) >= 50 - stride  # all but the oldest window read >= L - stride items
    with pytest.raises(ValueError, match="stride must be in"):
        sequence_windows([long], max_len=50, stride=51)


def test_bpr_triples_never_sample_a_seen_negative():
    rng = np.random.default_rng(0)
    data = Interactions.from_events(rng.integers(0, 20, 300), rng.integers(0, 12, 300), n_items=12)
    users, pos, neg = bpr_triples(data, rng)
    assert len(users) == len(data)
    seen = set(zip(data.user.tolist(), data.item.tolist()))
    assert sorted(zip(users.tolist(), pos.tolist())) == sorted(zip(data.user.tolist(), data.item.tolist()))
    assert not any((u, j) in seen for u, j in zip(users.tolist(), neg.tolist()))


def test_bpr_triples_refuse_a_user_who_saw_everything():
    data = Interactions.from_events(["a", "a", "b"], [0, 1, 0], n_items=2)
    with pytest.raises(DataError, match="user 'a' has interacted with all 2 items"):
        bpr_triples(data, np.random.default_rng(0))


def test_bpr_loss_by_hand():
    loss = bpr_loss(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0]))
    expected = (-math.log(1 / (1 + math.exp(-1))) - math.log(0.5)) / 2
    assert loss.item() == pytest.approx(expected)


def test_lr_schedule_warms_up_then_stays():
    assert [lr_at(s, 1.0, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_at(0, 1e-3, 0) == 1e-3


def test_early_stopping_keeps_the_best_weights():
    net = nn.Linear(1, 1)
    stop = EarlyStopping(patience=2)
    weights = []
    for epoch, metric in enumerate([0.1, 0.3, 0.2, 0.25], start=1):
        with torch.no_grad():
            net.weight.fill_(epoch)
        weights.append(epoch)
        done = stop.update(metric, epoch, net)
        assert done == (epoch == 4)  # two epochs after the best (epoch 2) without improvement
    stop.restore(net)
    assert net.weight.item() == 2.0 and stop.best_epoch == 2


def test_train_config_checks_values():
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        TrainConfig(lr=0.0)
