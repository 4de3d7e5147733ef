"""Popularity: every user gets the items with the most training events. The baseline to beat."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from recai.data import EvalSet, Interactions
from recai.recsys.checkpoint import check_tensors, write_checkpoint
from recai.recsys.common import top_k


class Popularity:
    """score(u, i) = number of training events of item i, the same for every user."""

    kind = "popularity"

    def __init__(self):
        self.counts: torch.Tensor | None = None  # (n_items,) float32

    @property
    def n_items(self) -> int:
        return _fitted(self).shape[0]

    def fit(self, train: Interactions, valid: EvalSet | None = None) -> "Popularity":
        """Count events per item. `valid` is accepted for a uniform interface and unused.

        Raises DataError when train has no users with events.
        """
        train.require_users(1, "Popularity.fit")
        self.counts = torch.from_numpy(train.item_counts().astype(np.float32))
        return self

    def score(self, users=None, histories=None) -> torch.Tensor:
        """(B, n_items) counts; B from users or histories (both ignored otherwise), 1 when neither is given."""
        counts = _fitted(self)
        batch = len(users) if users is not None else len(histories) if histories is not None else 1
        return counts.expand(batch, -1).clone()

    def recommend(self, users, histories, k: int, exclude_seen: bool = True):
        """(scores (B, k), items (B, k)) best first; see `recai.recsys.common.top_k`."""
        return top_k(self.score(users, histories), histories, k, exclude_seen)

    def save(self, directory: str | Path) -> Path:
        return write_checkpoint(directory, self.kind, {"n_items": self.n_items}, {"counts": _fitted(self)})

    @classmethod
    def from_checkpoint(cls, config: dict, tensors: dict, where: str = "checkpoint") -> "Popularity":
        check_tensors(where, {"counts": (config["n_items"],)}, tensors)
        model = cls()
        model.counts = tensors["counts"].float()
        return model


def _fitted(model: Popularity) -> torch.Tensor:
    if model.counts is None:
        raise RuntimeError("Popularity is not fitted: call fit(train) or recai.recsys.load(dir) first")
    return model.counts
