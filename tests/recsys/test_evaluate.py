"""evaluate_model: full ranking with the history excluded, by hand."""
import math

import numpy as np
import pytest
import torch

from recai.data import EvalSet
from recai.recsys import evaluate_model


class Fixed:
    """A 'model' whose scores are given rows, one per user index."""

    def __init__(self, rows):
        self.rows = torch.tensor(rows, dtype=torch.float32)

    def score(self, users, histories):
        return self.rows[torch.as_tensor(np.asarray(users))]


def test_history_is_excluded_and_targets_ranked_against_all_items():
    model = Fixed([[9, 1, 2, 3], [1, 5, 6, 0]])
    evalset = EvalSet(np.array([0, 1]), [np.array([0]), np.array([1, 2])], np.array([[3], [0]]))
    # With history excluded both targets rank first; without, user 0's target ranks 2nd and user 1's 3rd.
    assert evaluate_model(model, evalset, batch_size=1)["ndcg@10"] == pytest.approx(1.0)
    plain = evaluate_model(model, evalset, ks=(1, 10), exclude_history=False)
    assert plain["ndcg@10"] == pytest.approx((1 / math.log2(3) + 0.5) / 2)
    assert plain["hit@1"] == 0.0 and plain["mrr@10"] == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_bad_arguments():
    model = Fixed([[1, 2]])
    with pytest.raises(ValueError, match="no users"):
        evaluate_model(model, EvalSet(np.zeros(0, np.int64), [], np.zeros((0, 1), np.int64)))
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        evaluate_model(model, EvalSet(np.array([0]), [np.array([0])], np.array([[1]])), batch_size=0)
