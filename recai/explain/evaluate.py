"""Fidelity: how closely an explainer reproduces the recommender it explains, on held-out users.

Per held-out user: a next-item question (Hit@1: the answer is the target's top-1; Hit@10: it is in
the target's top 10), a ranking of 10 candidates (NDCG@5 of the answer, with graded relevance
5, 4, ... 1 for the target's own top five among the candidates), two interest questions (one
inside the target's top `bar`, one outside: accuracy of the yes / no), and a history question
(recall of the five most recent items). Replies are greedy; names are grounded with the fuzzy
matcher over the catalog's titles. With a title trie (`recai eval explainer --constrained`) the
next-item answer is decoded under the catalog constraint (`recai.text.title_trie`): one real title,
not one the user has seen, so Hit@k measures which title the explainer prefers rather than whether
a small model can spell one from memory.
"""
from __future__ import annotations

import math
import re
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch

from recai.explain.tasks import AlignExample, AlignTaskBuilder
from recai.explain.train import encode_prompt, stack_vectors
from recai.text.names import find_names

_YES = re.compile(r"^\W*(yes|no)\b", re.I)


@dataclass
class Fidelity:
    users: int = 0
    hit1: float = 0.0
    hit10: float = 0.0
    ranking_ndcg5: float = 0.0
    classify_accuracy: float = 0.0
    history_recall: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


TASKS = ("next_item", "ranking", "classify", "history")


def eval_examples(builder: AlignTaskBuilder, users: list[tuple[int, list[int]]],
                  tasks: tuple[str, ...] = TASKS) -> list[AlignExample]:
    """Five questions per user, or those of `tasks` only: every question is drawn either way, so a
    subset gets exactly the prompts the full evaluation asks."""
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"unknown fidelity tasks {sorted(unknown)}; known: {', '.join(TASKS)}")
    out = []
    for user, history in users:
        out += [builder.next_item(user, history), builder.ranking(user, history),
                builder.classify(user, history, positive=True), builder.classify(user, history, positive=False),
                builder.history(user, history)]
    return [ex for ex in out if ex.task in tasks]


def explanation_questions(builder: AlignTaskBuilder, users: list[tuple[int, list[int]]]) -> list[AlignExample]:
    """"Why does the recommender suggest X?" for each user, X the target's top unseen item: the
    recommendation a user is most likely to ask about. Draws nothing from the builder's generator, so
    builders of different modes over the same users ask about the same items."""
    return [builder.explain(u, h, builder.target.top(u, h, 1)[0]) for u, h in users]


def generate_replies(model, tokenizer, examples: list[AlignExample], slots=None, in_dim: int = 0,
                     max_new_tokens: int = 96, batch_size: int = 8, progress: bool = True, trie=None,
                     beam: int = 1) -> list[str]:
    """Greedy replies, the examples' vectors fed to the slots of their prompts; with a `TitleTrie`
    (over the builder's titles), next-item questions are answered under the catalog constraint,
    greedily or, with beam > 1, as the most likely whole title of a beam search of that width."""
    from recai.generation import GenerationConfig, generate
    from recai.text.title_trie import TitleConstraint, batched

    vocab = model.cfg.vocab_size
    constrained = [trie is not None and ex.task == "next_item" for ex in examples]
    # Constrained and free questions go in separate batches (a batch shares one logits processor);
    # beam-searched questions go one at a time.
    batches = []
    for kind in (True, False):
        group = [i for i, c in enumerate(constrained) if c == kind]
        size = 1 if kind and beam > 1 else batch_size
        batches += [group[s:s + size] for s in range(0, len(group), size)]
    replies: dict[int, str] = {}
    t0 = time.monotonic()
    for rows in batches:
        if constrained[rows[0]] and beam > 1:
            replies[rows[0]] = _beam_title(model, tokenizer, examples[rows[0]], slots, in_dim, trie, beam)
            continue
        chunk = [examples[i] for i in rows]
        prompts = [encode_prompt(tokenizer, vocab, ex.messages(with_answer=False)) for ex in chunk]
        counts = [sum(i >= vocab for i in p) for p in prompts]
        if any(counts) and slots is None:
            raise ValueError("these prompts carry vector slots but the model has no projector")
        processors = ()
        if constrained[rows[0]]:
            width = max(len(p) for p in prompts)
            processors = (batched([TitleConstraint(trie, count=1, max_items=1, exclude=tuple(ex.history))
                                   .processor(tokenizer, width) for ex in chunk]),)
        cfg = GenerationConfig(max_new_tokens=max_new_tokens, temperature=0.0, logits_processors=processors)
        feeding = nullcontext()
        if slots is not None:
            feeding = slots.feeding(torch.cat([stack_vectors(ex.vectors, n, in_dim) for ex, n in zip(chunk, counts)]))
        with feeding:
            texts = [g.text for g in generate(model, prompts, tokenizer, cfg)]
        replies.update(zip(rows, texts))
        if progress:
            print(f"\rexplainer replies {len(replies)}/{len(examples)}  {time.monotonic() - t0:.0f} s", end="",
                  file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return [replies[i] for i in range(len(examples))]


def _beam_title(model, tokenizer, ex: AlignExample, slots, in_dim: int, trie, width: int) -> str:
    """The next-item answer as "1. Title": the best title of a constrained beam search, seen ones excluded."""
    from recai.beam_search import beam_search
    from recai.text.title_trie import TitleWalk, item_number

    vocab = model.cfg.vocab_size
    prompt = encode_prompt(tokenizer, vocab, ex.messages(with_answer=False)) + item_number(tokenizer, 1)
    walk = TitleWalk(trie, exclude=ex.history)
    n_slots = sum(i >= vocab for i in prompt)
    feeding = slots.feeding(stack_vectors(ex.vectors, n_slots, in_dim)) if slots is not None else nullcontext()
    with feeding:
        best = beam_search(model, prompt, walk, width=width, n_best=1)
    return f"1. {trie.titles[walk.title(best[0].state)]}" if best else ""


def _names(reply: str) -> list[str]:
    found, _ = find_names(reply)
    if found:
        return [n for n, _ in found]
    return [p.strip(" .") for p in re.split(r"[;\n]", reply) if p.strip(" .")]


def random_order_ndcg5(n_candidates: int = 10) -> float:
    """Expected ranking NDCG@5 of a uniformly random order of the candidates (the chance level a
    surrogate must beat to show it knows the target's order, not just the answer format): each of
    the target's top five lands at each rank with probability 1 / n_candidates."""
    ideal = sum((5 - r) / math.log2(r + 2) for r in range(5))
    per_rank = sum(1 / math.log2(r + 2) for r in range(min(5, n_candidates))) / n_candidates
    return sum(5 - r for r in range(5)) * per_rank / ideal


def score_fidelity(examples: list[AlignExample], replies: list[str], matcher, target) -> Fidelity:
    hits1, hits10, ndcgs, correct, recalls = [], [], [], [], []
    for ex, reply in zip(examples, replies):
        names = _names(reply)
        matched = [m.index for m in matcher.match_many(names) if m is not None] if names else []
        if ex.task == "next_item":
            top10 = target.top(ex.user, ex.history, 10)
            first = matched[0] if matched else None
            hits1.append(float(first == top10[0]))
            hits10.append(float(first in top10))
        elif ex.task == "ranking":
            gain = {item: 5 - r for r, item in enumerate(ex.items)}  # the target's best five, 5..1
            picked = list(dict.fromkeys(m for m in matched if m in ex.candidates))[:5]
            dcg = sum(gain.get(i, 0) / math.log2(r + 2) for r, i in enumerate(picked))
            ideal = sum((5 - r) / math.log2(r + 2) for r in range(5))
            ndcgs.append(dcg / ideal)
        elif ex.task == "classify":
            m = _YES.match(reply)
            correct.append(float(m is not None and (m.group(1).lower() == "yes") == ex.label))
        elif ex.task == "history":
            recalls.append(len(set(matched) & set(ex.items)) / len(ex.items))
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    users = len({ex.user for ex in examples})
    return Fidelity(users, mean(hits1), mean(hits10), mean(ndcgs), mean(correct), mean(recalls))
