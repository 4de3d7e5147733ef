"""Embedding tasks: an `Embedder` (recai.emb) as a recommender, on the same task files.

    embedding_retrieval   the user's history as one query text, against every catalog title
                          (`ItemIndex.search`, the history excluded): rank of the target
    embedding_ranking     the same query against the item's candidates only: rank of the target

Titles in the records map back to catalog items by their display title; an unknown one is skipped
(and counted in `unknown_titles`), never a crash. NDCG@k / Hit@k for k in 1, 5, 10, 20.
"""
from __future__ import annotations

import torch

from recai.eval.metrics import hit, ndcg
from recai.eval.task_data import title_index

KS = (1, 5, 10, 20)


def query_text(history: list[str]) -> str:
    return "A user watched: " + "; ".join(history[-20:])


def _metrics(ranks: list[int]) -> dict:
    if not ranks:
        return {}
    r = torch.tensor(ranks)
    out = {f"ndcg@{k}": float(ndcg(r, k).mean()) for k in KS}
    out.update({f"hit@{k}": float(hit(r, k).mean()) for k in KS})
    return out


def embedding_scores(embedder, catalog, items, task: str, batch_size: int = 64) -> dict:
    """Scores of `task` ("embedding_retrieval" or "embedding_ranking") over retrieval / ranking records."""
    from recai.emb.index import ItemIndex

    titles = catalog.display_titles()
    index_of = title_index(titles)
    known = [it for it in items if it.target in index_of]
    unknown = len(items) - len(known)
    if not known:
        return {"items": 0, "unknown_titles": unknown}
    queries = embedder.encode([query_text(it.history) for it in known], batch_size=batch_size)
    ranks = []
    if task == "embedding_retrieval":
        index = ItemIndex.build(embedder, titles, batch_size=batch_size)
        k = min(20, len(titles))
        exclude = [[str(index_of[h]) for h in it.history if h in index_of and h != it.target] for it in known]
        found = index.search(queries, k=k, exclude=exclude)
        for it, ids in zip(known, found.ids):
            target = str(index_of[it.target])
            ranks.append(ids.index(target) + 1 if target in ids else 10**6)
    elif task == "embedding_ranking":
        for it, q in zip(known, queries):
            cands = [c for c in it.candidates if c in index_of]
            vectors = embedder.encode(cands, batch_size=batch_size)
            order = torch.argsort(vectors @ q, descending=True).tolist()
            ranked = [cands[i] for i in order]
            ranks.append(ranked.index(it.target) + 1 if it.target in ranked else 10**6)
    else:
        raise ValueError(f"unknown embedding task {task!r}")
    return {"items": len(known), "unknown_titles": unknown, **_metrics(ranks)}
