"""Train/validation/test splits of Interactions: leave-one-out and global temporal.

An EvalSet holds, per evaluated user, the history a model sees (time-ordered items before the
target) and the target items. Full-ranking evaluation excludes the history's items from the
ranking (a target is never excluded); sampled protocols add negatives (`recai.data.negatives`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recai.data.interactions import Interactions
from recai.errors import DataError


@dataclass(eq=False)
class EvalSet:
    users: np.ndarray  # (B,) user indices into the training Interactions' user_ids
    history: list[np.ndarray]  # B time-ordered item arrays: the model's input, excluded from ranking
    targets: np.ndarray  # (B, R) item indices, -1 padding; R = 1 for leave-one-out

    def __len__(self) -> int:
        return len(self.users)


@dataclass(eq=False)
class Split:
    train: Interactions
    valid: EvalSet
    test: EvalSet
    protocol: str  # "leave-one-out" or "temporal"


def leave_one_out(data: Interactions) -> Split:
    """Each user's last item is the test target, the one before it the validation target.

    Users with fewer than 3 events stay in training whole and are not evaluated. The test history
    includes the validation item (it is known by test time), as in SASRec's and RecBole's protocol.
    Raises DataError when no user has 3 events.
    """
    lengths = data.lengths()
    evaluated = np.nonzero(lengths >= 3)[0]
    if len(evaluated) == 0:
        raise DataError(f"leave-one-out needs users with at least 3 events; the longest history has "
                        f"{int(lengths.max(initial=0))}")
    # Drop the last two events of every evaluated user from training.
    last = data.offsets[1:] - 1
    held = np.zeros(len(data), bool)
    held[last[evaluated]] = True
    held[last[evaluated] - 1] = True
    train = _keep_all_users(data, ~held)
    seqs = data.sequences()
    valid = EvalSet(evaluated, [seqs[u][:-2] for u in evaluated], np.array([[seqs[u][-2]] for u in evaluated]))
    test = EvalSet(evaluated, [seqs[u][:-1] for u in evaluated], np.array([[seqs[u][-1]] for u in evaluated]))
    return Split(train, valid, test, "leave-one-out")


def temporal_split(data: Interactions, valid: float = 0.1, test: float = 0.1) -> Split:
    """Cut the global timeline: the latest `test` fraction of events is test, the `valid` before it validation.

    Every user keeps an index in training (possibly with no events); an EvalSet covers users with
    history before its period and at least one target in it, targets being all the user's items in
    that period (first occurrence order). Raises DataError on bad fractions or an empty period.
    """
    if not (0 < valid < 1 and 0 < test < 1 and valid + test < 1):
        raise DataError(f"temporal split fractions must be in (0, 1) and sum below 1, got valid={valid}, test={test}")
    n = len(data)
    order = np.argsort(data.time, kind="stable")
    t_valid = data.time[order[int(n * (1 - valid - test))]] if n else 0
    t_test = data.time[order[int(n * (1 - test))]] if n else 0
    period = np.where(data.time >= t_test, 2, np.where(data.time >= t_valid, 1, 0))
    train = _keep_all_users(data, period == 0)
    valid_set = _period_set(data, period, 1, "validation")
    test_set = _period_set(data, period, 2, "test")
    return Split(train, valid_set, test_set, "temporal")


def _keep_all_users(data: Interactions, keep: np.ndarray) -> Interactions:
    # Unlike Interactions.select, keep every user's index so EvalSets and models agree on ids.
    return Interactions(data.user[keep], data.item[keep], data.time[keep], data.weight[keep],
                        data.user_ids, data.n_items)


def _period_set(data: Interactions, period: np.ndarray, which: int, name: str) -> EvalSet:
    users, history, targets = [], [], []
    for u in range(data.n_users):
        lo, hi = data.offsets[u], data.offsets[u + 1]
        p, items = period[lo:hi], data.item[lo:hi]
        before, inside = items[p < which], items[p == which]
        if len(before) and len(inside):
            users.append(u)
            history.append(before)
            targets.append(list(dict.fromkeys(inside.tolist())))
    if not users:
        raise DataError(f"temporal split: no user has both history and events in the {name} period")
    width = max(len(t) for t in targets)
    padded = np.full((len(targets), width), -1, np.int64)
    for row, t in zip(padded, targets):
        row[: len(t)] = t
    return EvalSet(np.array(users, np.int64), history, padded)
