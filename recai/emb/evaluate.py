"""Retrieval quality of an Embedder on RecLM-emb queries: Hit@k, NDCG@k and Coverage@k per task.

Every query is answered against the whole catalog (exact top-k through `kernels.topk`), with the
items the query itself names left out. Coverage@k is the share of catalog items that appear in at
least one of a task's top-k lists: a model that answers every query with the same few popular
items scores low on it.
"""
from __future__ import annotations

import torch

from kernels import topk
from recai.eval.metrics import hit, ndcg


def target_ranks(query_vectors: torch.Tensor, item_vectors: torch.Tensor, queries, depth: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ranks (Q, 1) of each target, 1-based, depth + 1 when beyond the top `depth`; ids (Q, depth))."""
    exclude = [q.exclude for q in queries]
    _, ids = topk(query_vectors, item_vectors, depth, exclude=exclude)
    targets = torch.tensor([q.target for q in queries])[:, None]
    found = ids == targets
    ranks = torch.where(found.any(1), found.float().argmax(1) + 1, torch.full((len(queries),), depth + 1))
    return ranks[:, None], ids


def evaluate_queries(embedder, item_vectors: torch.Tensor, queries, ks=(1, 5, 10, 20), batch_size: int = 64
                     ) -> dict[str, dict[str, float]]:
    """{task: {"hit@k": ..., "ndcg@k": ..., "coverage@k": ..., "queries": n}} plus an "average" row
    (the mean over tasks). item_vectors: (N, d) from the same embedder over the catalog texts."""
    depth = max(ks)
    out: dict[str, dict[str, float]] = {}
    tasks = list(dict.fromkeys(q.task for q in queries))
    for task in tasks:
        chosen = [q for q in queries if q.task == task]
        vectors = embedder.encode([q.text for q in chosen], batch_size=batch_size).to(item_vectors.dtype)
        ranks, ids = target_ranks(vectors, item_vectors, chosen, depth)
        row: dict[str, float] = {"queries": len(chosen)}
        for k in ks:
            row[f"hit@{k}"] = float(hit(ranks, k).mean())
            row[f"ndcg@{k}"] = float(ndcg(ranks, k).mean())
            row[f"coverage@{k}"] = len(set(ids[:, :k].flatten().tolist()) - {-1}) / item_vectors.shape[0]
        out[task] = row
    if tasks:
        keys = [k for k in out[tasks[0]] if k != "queries"]
        out["average"] = {k: sum(out[t][k] for t in tasks) / len(tasks) for k in keys}
        out["average"]["queries"] = sum(out[t]["queries"] for t in tasks)
    return out


def format_table(results: dict[str, dict[str, float]], ks=(10,), columns=("hit", "ndcg", "coverage")) -> str:
    """A markdown table: one row per task."""
    head = ["task", "queries"] + [f"{c}@{k}" for k in ks for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task, row in results.items():
        cells = [task, str(int(row["queries"]))] + [f"{row[f'{c}@{k}']:.4f}" for k in ks for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
