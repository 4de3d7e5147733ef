"""Collaborative signals as facts: item-to-item (who watched A also watched B) and user-to-item
(what a teacher recommender predicts for this user).

Item-to-item similarity is either the cosine-normalised co-occurrence over the training users,

    sim(a, b) = |users with a and b| / sqrt(|users with a| · |users with b|),

computed exactly for the pairs asked (history × candidates), or the cosine of two item vectors
from a trained model (MF or SASRec item embeddings). A fact names a candidate and the history
items most similar to it. User-to-item facts come from a teacher's full-catalog scores: the
candidates it ranks highest for this history, with their rank among all unseen items.
"""
from __future__ import annotations

import numpy as np
import torch

from recai.knowledge.facts import Fact


class CoOccurrence:
    """Exact normalised co-occurrence from training Interactions (user-item incidence kept sparse)."""

    def __init__(self, interactions):
        pairs = np.unique(np.stack([interactions.item, interactions.user]), axis=1)  # distinct (item, user)
        self.n_items = interactions.n_items
        self.incidence = torch.sparse_coo_tensor(torch.as_tensor(pairs), torch.ones(pairs.shape[1]),
                                                 (self.n_items, interactions.n_users),
                                                 check_invariants=True).coalesce()
        self.counts = torch.bincount(torch.as_tensor(pairs[0]), minlength=self.n_items).float()

    def similarity(self, a: list[int], b: list[int]) -> torch.Tensor:
        """(len(a), len(b)) cosine co-occurrence; 0 where an item has no users."""
        if not a or not b:
            return torch.zeros(len(a), len(b))
        rows_a = torch.index_select(self.incidence, 0, torch.as_tensor(a)).to_dense()  # (A, U)
        rows_b = torch.index_select(self.incidence, 0, torch.as_tensor(b)).to_dense()  # (B, U)
        both = rows_a @ rows_b.T
        norm = torch.sqrt(self.counts[a][:, None] * self.counts[b][None, :]).clamp(min=1.0)
        return both / norm


class EmbeddingSimilarity:
    """Cosine similarity of item vectors (n_items, dim), e.g. `sasrec.net.item_emb.weight[1:]`."""

    def __init__(self, item_vectors: torch.Tensor):
        v = torch.as_tensor(item_vectors, dtype=torch.float32)
        if v.dim() != 2:
            raise ValueError(f"item_vectors must be (n_items, dim), got shape {tuple(v.shape)}")
        self.vectors = torch.nn.functional.normalize(v, dim=1)
        self.n_items = v.shape[0]

    def similarity(self, a: list[int], b: list[int]) -> torch.Tensor:
        if not a or not b:
            return torch.zeros(len(a), len(b))
        return self.vectors[a] @ self.vectors[b].T


class ItemCFFacts:
    """'A: watched together with B and C by other users' for each candidate with a similar history item.

    similarity: a `CoOccurrence` or `EmbeddingSimilarity`; `per_candidate` history items are named
    at most; pairs at or below `min_sim` are not facts. Score: the best pair's similarity.
    """

    def __init__(self, catalog, similarity, per_candidate: int = 2, min_sim: float = 0.0):
        self.titles, self.sim = catalog.display_titles(), similarity
        self.per_candidate, self.min_sim = per_candidate, min_sim
        self.source = "co-occurrence" if isinstance(similarity, CoOccurrence) else "embedding"

    def facts(self, history: list[int], candidates: list[int]) -> list[Fact]:
        recent = list(dict.fromkeys(int(h) for h in history))
        candidates = [int(c) for c in candidates]
        sim = self.sim.similarity(recent, candidates)  # (H, C)
        out = []
        for col, c in enumerate(candidates):
            values, rows = torch.sort(sim[:, col], descending=True)
            named = [(recent[r], float(v)) for v, r in zip(values.tolist(), rows.tolist())
                     if v > self.min_sim and recent[r] != c][:self.per_candidate]
            if not named:
                continue
            title = self.titles[c]
            others = " and ".join(self.titles[h] for h, _ in named)
            verb = "often watched by the same users as" if self.source == "co-occurrence" else "similar to"
            out.append(Fact("item_cf", f"{title} is {verb} {others} (similarity {named[0][1]:.2f}).",
                            named[0][1], c))
        return out


class UserCFFacts:
    """'The recommender ranks X #r of the N unseen items for you' for the teacher's top candidates.

    teacher: anything with `score(histories=[h]) -> (1, n_items)` (SASRec, BPR-MF, ItemCF from
    `recai.recsys`); the `top` best-ranked candidates become facts. Score: 1 / log2(rank + 1).
    """

    def __init__(self, catalog, teacher, top: int = 5):
        self.titles, self.teacher, self.top = catalog.display_titles(), teacher, top

    def facts(self, history: list[int], candidates: list[int]) -> list[Fact]:
        if not history or not candidates:
            return []
        history, candidates = [int(h) for h in history], [int(c) for c in candidates]
        scores = self.teacher.score(histories=[history])[0].float().clone()
        scores[list(set(history))] = float("-inf")
        unseen = int(torch.isfinite(scores).sum())
        cand = scores[candidates]
        # 1-based rank among all unseen items (ties pessimistic: an equal score ranks ahead).
        ranks = [(int((scores >= s).sum()), c) for s, c in zip(cand.tolist(), candidates) if s != float("-inf")]
        out = []
        for rank, c in sorted(ranks)[:self.top]:
            title = self.titles[c]
            out.append(Fact("user_cf", f"{title} is ranked #{rank} of {unseen} unseen titles for you.",
                            1.0 / float(np.log2(rank + 1)), c))
        return out
