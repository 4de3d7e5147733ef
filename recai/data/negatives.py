"""Negative items for sampled evaluation protocols, and their files.

Sampled protocols (rank the target among 1 + M sampled items) are a deliberate choice, never the
default: recai ranks against all items unless a negatives file or `sample_negatives` is used.
The file layout is RecAI's `negative_samples.txt`: one line per user, `user_id item_id item_id ...`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from recai.data.atomic import atomic_text
from recai.data.interactions import Interactions
from recai.errors import DataError


def sample_negatives(data: Interactions, users: np.ndarray, n: int, seed: int = 0,
                     by_popularity: bool = False) -> np.ndarray:
    """(B, n) distinct items per user that the user never interacted with in `data`.

    by_popularity draws proportionally to item event counts instead of uniformly.
    Raises DataError when a user has interacted with too many items to leave n negatives.
    """
    rng = np.random.default_rng(seed)
    p = None
    if by_popularity:
        counts = data.item_counts().astype(np.float64) + 1e-12
        p = counts / counts.sum()
    out = np.empty((len(users), n), np.int64)
    for row, u in enumerate(users):
        seen = set(data.sequence(int(u)).tolist())
        if data.n_items - len(seen) < n:
            raise DataError(f"user {data.user_ids[u]!r} has interacted with {len(seen)} of {data.n_items} "
                            f"items; cannot sample {n} distinct negatives")
        chosen: list[int] = []
        taken = set(seen)
        while len(chosen) < n:
            draw = rng.choice(data.n_items, size=2 * (n - len(chosen)) + 8, p=p)
            for i in draw.tolist():
                if i not in taken:
                    taken.add(i)
                    chosen.append(i)
                    if len(chosen) == n:
                        break
        out[row] = chosen
    return out


def write_negatives(path: str | Path, user_ids: list[str], item_ids: list[str], users: np.ndarray,
                    negatives: np.ndarray) -> Path:
    """Write `user_id item_id ...` lines atomically (temp file, then rename)."""
    with atomic_text(path) as f:
        for u, row in zip(users, negatives):
            f.write(" ".join([user_ids[u], *(item_ids[i] for i in row)]) + "\n")
    return Path(path)


def read_negatives(path: str | Path, item_index: dict[str, int]) -> dict[str, np.ndarray]:
    """user_id → item indices from a negatives file. Raises DataError naming file and line."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            unknown = [p for p in parts[1:] if p not in item_index]
            if unknown:
                raise DataError(f"{path}:{lineno}: unknown item id {unknown[0]!r} for user {parts[0]!r}")
            out[parts[0]] = np.array([item_index[p] for p in parts[1:]], np.int64)
    return out
