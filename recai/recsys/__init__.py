"""Classic recommenders used as tools, teachers and baselines: Popularity, ItemCF, BPR-MF, SASRec.

One small interface for all four:

    model = SASRec().fit(split.train, split.valid, progress=True)   # or BPRMF(), ItemCF(), Popularity()
    scores = model.score(users, histories)                          # (B, n_items)
    top_scores, items = model.recommend(users, histories, k=10)     # seen items excluded by default
    model.save("runs/sasrec"); model = recai.recsys.load("runs/sasrec")
    evaluate_model(model, split.test, ks=(10,))                     # {"ndcg@10": ..., ...}

Users are indices into the training Interactions' user_ids; histories are item-index sequences.
"""
from __future__ import annotations

import importlib

# Names load on first use, so `recai --help` (which imports recai.recsys.cli_train) does not pay
# for torch; `from recai.recsys import SASRec` works as usual.
_WHERE = {
    "BPRMF": "mf", "FitReport": "training", "ItemCF": "itemcf", "KINDS": "loading", "Popularity": "popularity",
    "SASRec": "sasrec", "SASRecConfig": "sasrec", "TrainConfig": "training", "evaluate_model": "evaluate",
    "load": "loading",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'recai.recsys' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"recai.recsys.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
