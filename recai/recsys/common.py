"""What every recommender here shares: checking histories, padding them, and top-k with seen items removed.

Histories are sequences of 0-based catalog item indices (numpy arrays or lists), one per user,
oldest first, as `EvalSet.history` and `Interactions.sequence` give them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`device`, or cuda when available and none is given."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def as_history_list(histories, n_items: int, what: str) -> list[np.ndarray]:
    """Check item indices and return one int64 array per user.

    Raises ValueError naming the row and the offending index when it is outside [0, n_items).
    """
    if histories is None:
        raise ValueError(f"{what} needs histories (one item-index sequence per user), got None")
    out = []
    for row, h in enumerate(histories):
        a = np.asarray(h, dtype=np.int64).reshape(-1)
        if a.size and (a.min() < 0 or a.max() >= n_items):
            bad = a[(a < 0) | (a >= n_items)][0]
            raise ValueError(f"history row {row} holds item index {bad}, outside [0, {n_items})")
        out.append(a)
    return out


def as_user_tensor(users, n_users: int) -> torch.Tensor:
    """(B,) long tensor of user indices; ValueError naming an index outside [0, n_users)."""
    u = torch.as_tensor(np.asarray(users, dtype=np.int64)).reshape(-1)
    if u.numel() and (u.min() < 0 or u.max() >= n_users):
        bad = u[(u < 0) | (u >= n_users)][0].item()
        raise ValueError(f"user index {bad} is outside [0, {n_users}) (the users seen in training)")
    return u


def pad_right(histories: Sequence[np.ndarray], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The last `max_len` items of each history, shifted by +1 (0 pads) and right-padded.

    Returns ids (B, T) with T = min(max_len, longest history) and lengths (B,).
    Right padding keeps position 0 on the oldest item kept, as SASRec is trained.
    """
    tails = [h[-max_len:] for h in histories]
    lengths = torch.tensor([len(t) for t in tails], dtype=torch.long)
    width = max([1] + [len(t) for t in tails])
    ids = torch.zeros(len(tails), width, dtype=torch.long)
    for row, t in enumerate(tails):
        ids[row, : len(t)] = torch.from_numpy(t + 1)
    return ids, lengths


def seen_mask(histories: Sequence[np.ndarray], n_items: int, device=None) -> torch.Tensor:
    """(B, n_items) bool, True where the item is in the user's history."""
    mask = torch.zeros(len(histories), n_items, dtype=torch.bool, device=device)
    rows = torch.repeat_interleave(torch.arange(len(histories)), torch.tensor([len(h) for h in histories], dtype=torch.long))
    cols = torch.from_numpy(np.concatenate(histories)) if len(histories) else torch.zeros(0, dtype=torch.long)
    mask[rows.to(mask.device), cols.to(mask.device)] = True
    return mask


def top_k(scores: torch.Tensor, histories, k: int, exclude_seen: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best items per row of scores (B, N): (scores (B, k), items (B, k)), best first.

    With exclude_seen, history items score -inf first; they can only appear when fewer than k
    unseen items exist. Raises ValueError for k outside [1, N] or exclude_seen without histories.
    """
    n_items = scores.shape[1]
    if not 1 <= k <= n_items:
        raise ValueError(f"k must be in [1, {n_items}] (the number of items), got {k}")
    if exclude_seen:
        hist = as_history_list(histories, n_items, "exclude_seen=True")
        scores = scores.masked_fill(seen_mask(hist, n_items, scores.device), float("-inf"))
    values, items = scores.topk(k, dim=1)
    return values, items
