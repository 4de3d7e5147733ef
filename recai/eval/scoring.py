"""Scores of answered task files: ranking metrics for generated lists, accuracy for multiple choice.

Lists (retrieval, ranking): the answer's names are read as a list (`recai.text.names`); the rank
of the target is the first position whose name RecAI's title similarity puts at >= 0.6 of it
(`recai.eval.titles`), and NDCG@k / Hit@k follow for k in 1, 5, 10, 20, with RecLM-eval's list
errors. An empty or unreadable answer has no rank: it counts, as a miss. Multiple choice: the
letter read by `recai.eval.choices`; accuracy@1 and the share of answers with no letter at all.
"""
from __future__ import annotations

import torch

from recai.eval.choices import parse_choice
from recai.eval.list_errors import error_rates, list_errors
from recai.eval.metrics import hit, ndcg
from recai.eval.titles import THRESHOLD, TrigramTfidf
from recai.text.names import find_names

KS = (1, 5, 10, 20)


def answer_names(answer: str) -> list[str]:
    """The names an answer lists; a single line without list marks is read as comma-separated."""
    found, _ = find_names(answer or "")
    if found:
        names = [n for n, _ in found]
    else:
        line = (answer or "").strip().splitlines()[0] if (answer or "").strip() else ""
        names = [p.strip(" .") for p in line.split(",")]
    return [n for n in names if any(ch.isalnum() for ch in n)]  # "%%%" names nothing


def target_rank(names: list[str], target: str, tfidf: TrigramTfidf, threshold: float = THRESHOLD) -> int:
    """1-based position of the first name matching the target, 0 when none does."""
    if not names:
        return 0
    sims = tfidf.similarity(names, [target])[:, 0]
    hits = torch.nonzero(sims >= threshold).flatten()
    return int(hits[0]) + 1 if len(hits) else 0


def score_lists(items, answers: dict[str, str], tfidf: TrigramTfidf, threshold: float = THRESHOLD) -> dict:
    ranks, errors, unanswered = [], [], 0
    for it in items:
        names = answer_names(answers.get(it.id, ""))
        unanswered += not names
        r = target_rank(names, it.target, tfidf, threshold)
        ranks.append(r if r else 10**6)  # a miss ranks beyond every k
        errors.append(list_errors(names, it.history, it.candidates, tfidf, threshold))
    out = {"items": len(items), "no_list": unanswered / max(len(items), 1)}
    if ranks:
        r = torch.tensor(ranks)
        out.update({f"ndcg@{k}": float(ndcg(r, k).mean()) for k in KS})
        out.update({f"hit@{k}": float(hit(r, k).mean()) for k in KS})
    out.update(error_rates(errors))
    return out


def score_choices(items, answers: dict[str, str]) -> dict:
    correct, none = 0, 0
    for it in items:
        titles = [c.split(". ", 1)[1] if ". " in c[:4] else c for c in it.candidates]
        letter = parse_choice(answers.get(it.id, ""), titles)
        none += letter is None
        correct += letter is not None and letter == it.answer
    n = max(len(items), 1)
    return {"items": len(items), "acc@1": correct / n, "none_ratio": none / n}
