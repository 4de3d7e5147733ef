"""Candidate lists for ranking prompts: the held-out target among sampled negatives.

Negatives are drawn without replacement from items outside the user's history, uniformly
(`random`) or in proportion to their interaction counts (`popularity`, the harder protocol: a
model can no longer win by picking the famous title). The target's position is random.
"""
from __future__ import annotations

import random

import numpy as np

SAMPLING = ("random", "popularity")


def sample_candidates(target: int, history, n_items: int, n: int = 20, how: str = "random",
                      popularity=None, rng: random.Random | None = None) -> list[int]:
    """n catalog indices, the target among them at a random place.

    Raises ValueError for an unknown `how`, popularity sampling without counts, or a catalog too
    small to draw n - 1 negatives outside the history.
    """
    if how not in SAMPLING:
        raise ValueError(f"unknown candidate sampling {how!r}; choose one of {', '.join(SAMPLING)}")
    rng = rng or random.Random(0)
    banned = {int(h) for h in history} | {int(target)}
    pool = [i for i in range(n_items) if i not in banned]
    if len(pool) < n - 1:
        raise ValueError(f"cannot draw {n - 1} negatives: only {len(pool)} items lie outside the history")
    if how == "random":
        negatives = rng.sample(pool, n - 1)
    else:
        if popularity is None:
            raise ValueError("popularity sampling needs the items' interaction counts")
        weights = np.asarray(popularity, dtype=np.float64)[pool] + 1.0  # +1: unseen items stay drawable
        generator = np.random.default_rng(rng.randrange(1 << 32))
        negatives = [pool[i] for i in generator.choice(len(pool), n - 1, replace=False, p=weights / weights.sum())]
    out = negatives + [int(target)]
    rng.shuffle(out)
    return out
