"""Training examples built from Interactions: sequence windows for SASRec, (user, pos, neg) for BPR."""
from __future__ import annotations

import numpy as np
import torch

from recai.data import Interactions
from recai.errors import DataError


def sequence_windows(sequences: list[np.ndarray], max_len: int, stride: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut each sequence into windows where positions predict their next item, each target once.

    A user's items s[0..n-1] give the targets s[1..n-1], each exactly once per epoch, as in
    RecBole's one-prefix-per-target augmentation, but with many targets per forward pass.
    Windows of L = max_len inputs end every `stride` targets from the end of the sequence (the
    last covers inputs s[n-1-L..n-2]); a window keeps as targets only the `stride` newest ones
    it holds, the rest being another window's, except the oldest window, which keeps all. With
    stride < L every target but the first few of a user reads at least L - stride items of
    context, at L / stride times the compute; stride = L (the default) tiles without overlap.
    Users with fewer than 2 items give no window.

    Returns inputs (W, L) with items shifted by +1 and 0 as right padding, and targets (W, L)
    with 0-based items and -1 where there is no target.
    """
    stride = max_len if stride is None else stride
    if not 1 <= stride <= max_len:
        raise ValueError(f"stride must be in [1, max_len={max_len}], got {stride}")
    inputs, targets = [], []
    for s in sequences:
        for end in range(len(s) - 1, 0, -stride):  # `end` is the index of the window's last target
            lo = max(0, end - max_len)
            x, y = s[lo:end], s[lo + 1:end + 1].copy()
            if lo > 0:
                y[: max(0, len(y) - stride)] = -1  # older targets belong to the next window back
            inputs.append(np.pad(x + 1, (0, max_len - len(x))))
            targets.append(np.pad(y, (0, max_len - len(y)), constant_values=-1))
            if lo == 0:
                break
    if not inputs:
        return torch.zeros(0, max_len, dtype=torch.long), torch.zeros(0, max_len, dtype=torch.long)
    return torch.from_numpy(np.stack(inputs)), torch.from_numpy(np.stack(targets))


def bpr_triples(train: Interactions, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    """One (user, positive, negative) per training event, shuffled; negatives uniform over unseen items.

    Negatives are drawn uniformly and redrawn while they fall in the user's training items, as
    RecBole's uniform sampler does. Returns three (E,) long tensors. Raises DataError when a user
    has interacted with every item, since no negative exists for them.
    """
    n_items = train.n_items
    seen = np.unique(train.user * n_items + train.item)  # sorted keys of (user, item) pairs
    per_user = np.bincount(seen // n_items, minlength=train.n_users)
    if (per_user >= n_items).any():
        u = int(np.nonzero(per_user >= n_items)[0][0])
        raise DataError(f"user {train.user_ids[u]!r} has interacted with all {n_items} items; "
                        "BPR cannot sample a negative item for them")
    order = rng.permutation(len(train))
    users, pos = train.user[order], train.item[order]
    neg = rng.integers(0, n_items, len(users))
    bad = _contains(seen, users * n_items + neg)
    while bad.any():
        neg[bad] = rng.integers(0, n_items, int(bad.sum()))
        bad[bad] = _contains(seen, users[bad] * n_items + neg[bad])
    return torch.from_numpy(users), torch.from_numpy(pos), torch.from_numpy(neg)


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Membership by binary search: np.isin would re-sort the 'seen' keys on every call."""
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys
