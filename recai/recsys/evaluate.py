"""Full-ranking evaluation of any recommender here on an EvalSet, in batches."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from recai.data import EvalSet
from recai.eval.metrics import MetricAccumulator, full_ranks


def evaluate_model(model, evalset: EvalSet, ks: Sequence[int] = (10,),
                   metrics: Sequence[str] = ("ndcg", "recall", "mrr", "hit"), batch_size: int = 1024,
                   exclude_history: bool = True, ties: str = "pessimistic") -> dict[str, float]:
    """Rank every item for each evaluated user and average the metrics, e.g. {"ndcg@10": 0.07, ...}.

    Args:
        model: anything with `score(users, histories) -> (B, n_items)` (the recommenders here).
        evalset: users (B,), histories (model input) and targets (B, R) with -1 padding.
        ks, metrics: cut-offs and names from `recai.eval.metrics.METRICS`.
        batch_size: users scored at once; memory is O(batch_size · n_items).
        exclude_history: drop each user's history items from the ranking (targets never are), the
            usual protocol; RecBole does the same for general models, not for sequential ones.
        ties: how equal scores rank, see `recai.eval.metrics.full_ranks` (pessimistic by default,
            so a constant model cannot look good).
    Raises ValueError for an empty evalset, a bad batch_size, or what `full_ranks` refuses.
    """
    if len(evalset) == 0:
        raise ValueError("evalset has no users to evaluate")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    acc = MetricAccumulator(ks, metrics)
    with torch.no_grad():
        for lo in range(0, len(evalset), batch_size):
            users = evalset.users[lo:lo + batch_size]
            history = evalset.history[lo:lo + batch_size]
            scores = model.score(users, history)
            targets = torch.as_tensor(evalset.targets[lo:lo + batch_size], device=scores.device)
            exclude = history if exclude_history else None
            acc.update(full_ranks(scores, targets, exclude=exclude, ties=ties))
    return acc.compute()


def validation_ndcg(model, evalset: EvalSet | None) -> Callable[[], float] | None:
    """A callable returning the model's NDCG@10 on evalset (the training loops' early-stopping
    signal), or None without an evalset."""
    if evalset is None:
        return None
    return lambda: evaluate_model(model, evalset, ks=(10,), metrics=("ndcg",))["ndcg@10"]
