"""Item-based collaborative filtering with cosine-normalised co-occurrence.

    sim(i, j) = |users with i and j| / sqrt(|users with i| · |users with j|),   sim(i, i) = 0
    score(u, j) = sum over distinct items i in u's history of sim(i, j)

Only the `neighbors` largest similarities per item are kept (all when None), so the matrix is
sparse (COO) and the fit runs in item chunks: memory is O(chunk · (n_users + n_items)), fine to
~20k items.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from recai.data import EvalSet, Interactions
from recai.errors import CheckpointError
from recai.recsys.checkpoint import check_tensors, write_checkpoint
from recai.recsys.common import as_history_list, top_k

CHUNK = 1024  # at most this many item rows of the co-occurrence matrix computed at a time


class ItemCF:
    """Score items by their cosine similarity to the items a user has seen."""

    kind = "itemcf"

    def __init__(self, neighbors: int | None = 200):
        if neighbors is not None and neighbors < 1:
            raise ValueError(f"neighbors must be >= 1 or None (keep all), got {neighbors}")
        self.neighbors = neighbors
        self.sim: torch.Tensor | None = None  # (n_items, n_items) sparse COO: row i holds sim(i, ·)
        self._sim_t: torch.Tensor | None = None  # its transpose, the layout score() multiplies with

    @property
    def n_items(self) -> int:
        return _fitted(self).shape[0]

    def fit(self, train: Interactions, valid: EvalSet | None = None) -> "ItemCF":
        """Build the similarity matrix from distinct (user, item) pairs; `valid` is unused.

        Raises DataError when train has no users with events.
        """
        train.require_users(1, "ItemCF.fit")
        n_users, n_items = train.n_users, train.n_items
        pairs = np.unique(train.user * n_items + train.item)  # distinct pairs: repeats do not count twice
        users, items = torch.from_numpy(pairs // n_items), torch.from_numpy(pairs % n_items)
        x_t = _sparse(torch.stack([items, users]), torch.ones(len(pairs)), (n_items, n_users))
        norm = torch.bincount(items, minlength=n_items).float().sqrt()  # sqrt(|users with i|)
        # Dense blocks are (n_users, chunk) and (chunk, n_items): keep each under ~64M floats.
        chunk = max(1, min(CHUNK, 2 ** 26 // max(n_users, n_items)))
        rows, cols, vals = [], [], []
        for lo in range(0, n_items, chunk):
            hi = min(lo + chunk, n_items)
            inside = (items >= lo) & (items < hi)
            block = torch.zeros(n_users, hi - lo)
            block[users[inside], items[inside] - lo] = 1.0  # the users × chunk slice of the user-item matrix
            co = torch.sparse.mm(x_t, block).T  # (chunk, n_items) co-occurrence counts
            sim = co / (norm[lo:hi, None] * norm[None, :]).clamp(min=1e-12)
            sim[torch.arange(hi - lo), torch.arange(lo, hi)] = 0.0
            r, c, v = _keep_largest(sim, self.neighbors)
            rows.append(r + lo)
            cols.append(c)
            vals.append(v)
        self._set(torch.stack([torch.cat(rows), torch.cat(cols)]), torch.cat(vals), n_items)
        return self

    def _set(self, indices: torch.Tensor, values: torch.Tensor, n_items: int) -> None:
        self.sim = _sparse(indices, values, (n_items, n_items))
        self._sim_t = self.sim.t().coalesce()

    def score(self, users=None, histories=None) -> torch.Tensor:
        """(B, n_items) summed similarities to each history's distinct items; users are ignored.

        Raises ValueError when histories is None or holds an index outside [0, n_items).
        """
        _fitted(self)
        hist = as_history_list(histories, self.n_items, "ItemCF.score")
        seen = torch.zeros(len(hist), self.n_items)
        for row, h in enumerate(hist):
            seen[row, torch.from_numpy(h)] = 1.0  # multi-hot: a repeated item counts once
        # scores = seen @ sim, computed as (simᵀ @ seenᵀ)ᵀ because torch multiplies sparse @ dense.
        return torch.sparse.mm(self._sim_t, seen.T).T.contiguous()

    def recommend(self, users, histories, k: int, exclude_seen: bool = True):
        """(scores (B, k), items (B, k)) best first; see `recai.recsys.common.top_k`."""
        return top_k(self.score(users, histories), histories, k, exclude_seen)

    def save(self, directory: str | Path) -> Path:
        sim = _fitted(self)
        tensors = {"indices": sim.indices(), "values": sim.values()}
        return write_checkpoint(directory, self.kind, {"n_items": self.n_items, "neighbors": self.neighbors}, tensors)

    @classmethod
    def from_checkpoint(cls, config: dict, tensors: dict, where: str = "checkpoint") -> "ItemCF":
        nnz = tensors["values"].shape[0] if "values" in tensors else 0
        check_tensors(where, {"indices": (2, nnz), "values": (nnz,)}, tensors)
        n = config["n_items"]
        model = cls(config.get("neighbors"))
        model._set(tensors["indices"].long(), tensors["values"].float(), n)
        return model


def _sparse(indices: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    # Invariant checks (indices in range) guard against a corrupt checkpoint crashing the process.
    try:
        return torch.sparse_coo_tensor(indices, values, shape, check_invariants=True).coalesce()
    except RuntimeError as e:
        raise CheckpointError(f"item-similarity indices do not fit a {shape} matrix: {e}") from e


def _keep_largest(sim: torch.Tensor, k: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(rows, cols, values) of the k largest positive entries per row of a dense (R, N) block."""
    if k is not None and k < sim.shape[1]:
        values, cols = sim.topk(k, dim=1)
        rows = torch.arange(sim.shape[0])[:, None].expand_as(cols)
        keep = values > 0
        return rows[keep], cols[keep], values[keep]
    rows, cols = sim.nonzero(as_tuple=True)
    return rows, cols, sim[rows, cols]


def _fitted(model: ItemCF) -> torch.Tensor:
    if model.sim is None:
        raise RuntimeError("ItemCF is not fitted: call fit(train) or recai.recsys.load(dir) first")
    return model.sim
