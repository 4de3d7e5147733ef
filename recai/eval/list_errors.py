"""RecLM-eval's error metrics for a generated list, with its title similarity (`recai.eval.titles`).

Per reply (a list of generated names), each error is a flag, and the rates are the share of replies
that have it:

    history     some name matches an item of the user's history
    duplicate   some name matches a name written earlier in the same list
    candidate   some name matches none of the candidates (ranking tasks only)

plus the copy error, the mean length of the longest common subsequence between the list and the
prompt's own order (history then candidates): a model that echoes its input scores high.
A match is cosine >= threshold (0.6, RecAI's).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from recai.eval.titles import THRESHOLD, TrigramTfidf


@dataclass
class ListErrors:
    history: bool
    duplicate: bool
    candidate: bool
    copy: int  # LCS length against history + candidates


def copy_length(names: Sequence[str], reference: Sequence[str], tfidf: TrigramTfidf,
                threshold: float = THRESHOLD) -> int:
    """Longest common subsequence of the two lists, two entries matching when their cosine >= threshold."""
    if not names or not reference:
        return 0
    same = (tfidf.similarity(list(names), list(reference)) >= threshold).tolist()
    prev = [0] * (len(reference) + 1)
    for i in range(len(names)):
        row = [0]
        for j in range(len(reference)):
            row.append(prev[j] + 1 if same[i][j] else max(prev[j + 1], row[j]))
        prev = row
    return prev[-1]


def list_errors(names: Sequence[str], history: Sequence[str], candidates: Sequence[str], tfidf: TrigramTfidf,
                threshold: float = THRESHOLD) -> ListErrors:
    names = list(names)
    in_history = bool(history) and bool(names) and bool(
        (tfidf.similarity(names, list(history)).max(dim=1).values >= threshold).any())
    duplicate = False
    if len(names) > 1:
        sim = tfidf.similarity(names, names)
        duplicate = any(bool((sim[i, :i] >= threshold).any()) for i in range(1, len(names)))
    off_list = bool(candidates) and bool(names) and bool(
        (tfidf.similarity(names, list(candidates)).max(dim=1).values < threshold).any())
    return ListErrors(in_history, duplicate, off_list, copy_length(names, list(history) + list(candidates), tfidf,
                                                                   threshold))


def error_rates(errors: Sequence[ListErrors]) -> dict[str, float]:
    n = max(len(errors), 1)
    return {"history_error_rate": sum(e.history for e in errors) / n,
            "duplicate_error_rate": sum(e.duplicate for e in errors) / n,
            "candidate_error_rate": sum(e.candidate for e in errors) / n,
            "copy_error": sum(e.copy for e in errors) / n}
