"""BPR-MF (Rendle et al., UAI 2009): user and item embeddings ranked by their dot product."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from recai.data import EvalSet, Interactions
from recai.recsys.checkpoint import check_tensors, write_checkpoint
from recai.recsys.common import as_user_tensor, resolve_device, top_k
from recai.recsys.evaluate import validation_ndcg
from recai.recsys.training import FitReport, TrainConfig, train_bpr


class MFNet(nn.Module):
    """score(u, i) = <user_emb[u], item_emb[i]>, Xavier-normal initialised as in RecBole's BPR."""

    def __init__(self, n_users: int, n_items: int, dim: int = 64):
        super().__init__()
        if n_users < 1 or n_items < 1 or dim < 1:
            raise ValueError(f"n_users, n_items and dim must be >= 1, got {n_users}, {n_items}, {dim}")
        self.user_emb = nn.Embedding(n_users, dim)
        self.item_emb = nn.Embedding(n_items, dim)
        nn.init.xavier_normal_(self.user_emb.weight)
        nn.init.xavier_normal_(self.item_emb.weight)

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B,) scores of matching (user, item) pairs."""
        return (self.user_emb(users) * self.item_emb(items)).sum(-1)

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        """(B,) user indices → (B, n_items) scores against every item."""
        return self.user_emb(users) @ self.item_emb.weight.T


class BPRMF:
    """Matrix factorisation trained with the BPR pairwise loss; scores depend on the user index only.

        model = BPRMF(dim=64).fit(split.train, split.valid, progress=True)
        scores, items = model.recommend(split.test.users, split.test.history, k=10)
    """

    kind = "mf"

    def __init__(self, dim: int = 64):
        self.dim = dim
        self.net: MFNet | None = None
        self.report: FitReport | None = None

    @property
    def n_users(self) -> int:
        return _fitted(self).user_emb.num_embeddings

    @property
    def n_items(self) -> int:
        return _fitted(self).item_emb.num_embeddings

    def fit(self, train: Interactions, valid: EvalSet | None = None, *, epochs: int = 200, batch_size: int = 2048,
            lr: float = 1e-3, warmup_steps: int = 0, weight_decay: float = 0.0, patience: int = 10, seed: int = 0,
            device: str | None = None, progress: bool = False) -> "BPRMF":
        """Initialise (seeded) for train's users and items and train; see `recai.recsys.training.train_bpr`.

        valid: per-epoch NDCG@10 (full ranking, history excluded) drives early stopping; the best
        epoch's weights are kept. The report lands in `self.report`.
        Raises DataError for fewer than 2 users with events or a user who has seen every item.
        """
        cfg = TrainConfig(epochs, batch_size, lr, warmup_steps, weight_decay, patience, seed, device, progress)
        train.require_users(2, "BPR-MF training")
        torch.manual_seed(seed)  # weight initialisation
        self.net = MFNet(train.n_users, train.n_items, self.dim)
        self.report = train_bpr(self.net, train, cfg, validation_ndcg(self, valid))
        self.net.eval()
        return self

    def to(self, device) -> "BPRMF":
        _fitted(self).to(resolve_device(device))
        return self

    def score(self, users=None, histories=None) -> torch.Tensor:
        """(B, n_items) scores for user indices (B,) of the training data; histories are ignored.

        Raises ValueError when users is None or holds an index outside [0, n_users).
        """
        net = _fitted(self)
        if users is None:
            raise ValueError("BPRMF.score needs user indices (the model has one embedding per training user)")
        u = as_user_tensor(users, self.n_users).to(net.user_emb.weight.device)
        with torch.no_grad():
            return net(u)

    def item_vectors(self) -> torch.Tensor:
        """(n_items, dim) item embeddings."""
        return _fitted(self).item_emb.weight.detach()

    def user_vectors(self, users) -> torch.Tensor:
        """(B, dim) embeddings of training user indices; ValueError for an unknown index."""
        net = _fitted(self)
        return net.user_emb(as_user_tensor(users, self.n_users).to(net.user_emb.weight.device)).detach()

    def recommend(self, users, histories, k: int, exclude_seen: bool = True):
        """(scores (B, k), items (B, k)) best first; histories are only used to exclude seen items."""
        return top_k(self.score(users, histories), histories, k, exclude_seen)

    def save(self, directory: str | Path) -> Path:
        config = {"n_users": self.n_users, "n_items": self.n_items, "dim": self.dim}
        return write_checkpoint(directory, self.kind, config, _fitted(self).state_dict())

    @classmethod
    def from_checkpoint(cls, config: dict, tensors: dict, where: str = "checkpoint") -> "BPRMF":
        model = cls(config["dim"])
        model.net = MFNet(config["n_users"], config["n_items"], config["dim"])
        check_tensors(where, {k: tuple(v.shape) for k, v in model.net.state_dict().items()}, tensors)
        model.net.load_state_dict(tensors)
        model.net.eval()
        return model


def _fitted(model: BPRMF) -> MFNet:
    if model.net is None:
        raise RuntimeError("BPRMF is not fitted: call fit(train) or recai.recsys.load(dir) first")
    return model.net
