"""User histories: time-ordered events (user, item, time, weight) grouped per user.

Events are stored as flat numpy arrays sorted by (user, time), stably, so ties keep their input
order and datasets without timestamps keep the file's order. `offsets` (CSR style) cuts them into
per-user sequences. Items are 0-based catalog indices; users are 0-based indices into `user_ids`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from recai.errors import DataError


@dataclass(frozen=True, eq=False)
class Interactions:
    user: np.ndarray  # (N,) int64, non-decreasing
    item: np.ndarray  # (N,) int64 catalog index
    time: np.ndarray  # (N,) int64, non-decreasing within each user
    weight: np.ndarray  # (N,) float32: rating, play count, or 1 for implicit feedback
    user_ids: list[str]
    n_items: int
    offsets: np.ndarray = field(init=False, repr=False)  # (n_users + 1,) user u owns [offsets[u], offsets[u+1])

    def __post_init__(self):
        n = len(self.user)
        if not (len(self.item) == len(self.time) == len(self.weight) == n):
            raise DataError("user, item, time and weight arrays must have the same length")
        if n and (self.item.min() < 0 or self.item.max() >= self.n_items):
            raise DataError(f"item index out of range [0, {self.n_items}): "
                            f"min {self.item.min()}, max {self.item.max()}")
        counts = np.bincount(self.user, minlength=len(self.user_ids)) if n else np.zeros(len(self.user_ids), np.int64)
        object.__setattr__(self, "offsets", np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_events(cls, users: Sequence, items: Sequence[int], n_items: int, times: Sequence | None = None,
                    weights: Sequence | None = None, user_ids: Sequence[str] | None = None) -> "Interactions":
        """Events in any order → grouped, time-sorted Interactions.

        users: user keys (any hashable, mapped to indices in order of first appearance) or, with
        `user_ids`, indices into it. items: catalog indices. times: sortable numbers (None keeps
        input order). weights: floats (None = 1.0).
        """
        items = np.asarray(items, dtype=np.int64)
        n = len(items)
        if user_ids is None:
            index: dict = {}
            user = np.fromiter((index.setdefault(u, len(index)) for u in users), np.int64, n)
            user_ids = [str(u) for u in index]
        else:
            user = np.asarray(users, dtype=np.int64)
            user_ids = [str(u) for u in user_ids]
        time = np.arange(n, dtype=np.int64) if times is None else np.asarray(times, dtype=np.int64)
        weight = np.ones(n, np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
        # lexsort sorts by the last key first and is stable, so equal times keep input order.
        order = np.lexsort((time, user))
        return cls(user[order], items[order], time[order], weight[order], list(user_ids), int(n_items))

    # ---- reading ------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def __len__(self) -> int:
        return len(self.user)

    def __repr__(self) -> str:
        return f"Interactions({len(self)} events, {self.n_users} users, {self.n_items} items)"

    def lengths(self) -> np.ndarray:
        """(n_users,) number of events per user."""
        return np.diff(self.offsets)

    def sequence(self, u: int) -> np.ndarray:
        """The time-ordered item indices of user index u."""
        return self.item[self.offsets[u]:self.offsets[u + 1]]

    def sequences(self) -> list[np.ndarray]:
        return np.split(self.item, self.offsets[1:-1]) if self.n_users else []

    def item_counts(self) -> np.ndarray:
        """(n_items,) events per item."""
        return np.bincount(self.item, minlength=self.n_items)

    def sparsity(self) -> float:
        """1 - distinct (user, item) pairs / (users × items)."""
        if not self.n_users or not self.n_items:
            return 1.0
        pairs = len(np.unique(self.user * self.n_items + self.item))
        return 1.0 - pairs / (self.n_users * self.n_items)

    # ---- filtering ----------------------------------------------------------------------------
    def select(self, keep: np.ndarray) -> "Interactions":
        """The events where the boolean mask `keep` (N,) is true; users with none left are dropped."""
        users_left = np.unique(self.user[keep])
        remap = np.full(self.n_users, -1, np.int64)
        remap[users_left] = np.arange(len(users_left))
        return Interactions(remap[self.user[keep]], self.item[keep], self.time[keep], self.weight[keep],
                            [self.user_ids[u] for u in users_left], self.n_items)

    def kcore(self, min_user: int = 5, min_item: int = 5) -> "Interactions":
        """Repeatedly drop users with < min_user events and items with < min_item until stable.

        Item indices are unchanged (dropped items just have no events); `Dataset.kcore` also
        renumbers the catalog. Counts are events, so repeated consumption counts each time.
        """
        keep = np.ones(len(self), bool)
        while True:
            ucount = np.bincount(self.user[keep], minlength=self.n_users)
            icount = np.bincount(self.item[keep], minlength=self.n_items)
            new = keep & (ucount[self.user] >= min_user) & (icount[self.item] >= min_item)
            if new.sum() == keep.sum():
                break
            keep = new
        return self.select(keep)

    def reindex_items(self, kept: np.ndarray) -> "Interactions":
        """Items renumbered to their position in `kept` (old indices); events of other items dropped."""
        remap = np.full(self.n_items, -1, np.int64)
        remap[kept] = np.arange(len(kept))
        keep = remap[self.item] >= 0
        sub = self.select(keep)
        return Interactions(sub.user, remap[sub.item], sub.time, sub.weight, sub.user_ids, len(kept))

    def require_users(self, n: int, what: str) -> None:
        """DataError unless at least n users have events (training and splits need some)."""
        if self.n_users < n or len(self) == 0:
            raise DataError(f"{what} needs at least {n} users with interactions; this dataset has "
                            f"{self.n_users} users and {len(self)} events")
