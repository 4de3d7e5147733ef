"""The recommender being explained: its scores and its own user and item vectors, one interface.

SASRec's user vector is its hidden state after the history's last item (the state it scores the
next item from); BPR-MF's is the training user's embedding. Item vectors are each model's item
embeddings. Users are training-user indices, histories catalog indices, oldest first.
"""
from __future__ import annotations

import torch


class TargetModel:
    """`recommender`: a fitted SASRec or BPRMF from `recai.recsys`."""

    def __init__(self, recommender):
        kind = getattr(recommender, "kind", None)
        if kind not in ("sasrec", "mf"):
            raise ValueError(f"RecExplainer explains SASRec or BPR-MF models, got {type(recommender).__name__}")
        self.model, self.kind = recommender, kind
        self.items = recommender.item_vectors().float()  # (n_items, dim)
        self.n_items, self.dim = self.items.shape
        self.n_users = recommender.n_users if kind == "mf" else None

    def _check(self, user: int, history) -> list[int]:
        history = [int(i) for i in history]
        bad = [i for i in history if not 0 <= i < self.n_items]
        if bad:
            raise ValueError(f"item index {bad[0]} is unknown to the {self.kind} model ({self.n_items} items)")
        if self.kind == "mf" and not 0 <= int(user) < self.n_users:
            raise ValueError(f"user {user} is unknown to the BPR-MF model ({self.n_users} training users)")
        if self.kind == "sasrec" and not history:
            raise ValueError(f"user {user} has no history; SASRec needs at least one item")
        return history

    def user_vector(self, user: int, history) -> torch.Tensor:
        """(dim,) the model's vector for this user."""
        history = self._check(user, history)
        if self.kind == "mf":
            return self.model.user_vectors([int(user)])[0].float()
        return self.model.sequence_vectors([history])[0].float()

    def scores(self, user: int, history) -> torch.Tensor:
        """(n_items,) scores, the history's items at -inf (never recommended again)."""
        history = self._check(user, history)
        s = self.model.score(users=[int(user)], histories=[history])[0].float().clone()
        if history:
            s[history] = float("-inf")
        return s

    def top(self, user: int, history, k: int) -> list[int]:
        """The model's best k unseen items (fewer when fewer are unseen), best first."""
        s = self.scores(user, history)
        return torch.topk(s, min(k, int(torch.isfinite(s).sum()))).indices.tolist()

    def item_vector(self, item: int) -> torch.Tensor:
        if not 0 <= int(item) < self.n_items:
            raise ValueError(f"item index {item} is unknown to the {self.kind} model ({self.n_items} items)")
        return self.items[int(item)]

    def similar_items(self, item: int, k: int = 3) -> list[int]:
        """The k items whose vectors are closest (cosine) to this one's."""
        v = torch.nn.functional.normalize(self.items, dim=1)
        sim = v @ v[int(item)]
        sim[int(item)] = float("-inf")
        return torch.topk(sim, k).indices.tolist()
