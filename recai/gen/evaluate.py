"""`recai eval gen`: how well a generative recommender recommends, and how well it obeys.

Held-out users (the leave-one-out test targets) get three kinds of requests: next items (their
history, 10 items asked; NDCG@10 and Recall@10 of the true next item in the valid part of the
list), an exact count (1..10 items), and a category ("five comedies"). Over every written name:
invalid, repeat and in-history rates; per request: count accuracy (the number of valid items is
the number asked) and category accuracy (the share of valid items that fill a requested category);
and the mean RecLM-gen reward of the replies.
"""
from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field

from recai.gen.constrain import TitleConstraint, batched
from recai.gen.grounding import ground
from recai.gen.rewards import item_rewards, list_reward
from recai.gen.tasks import GenExample, GenTaskBuilder, teacher_ranks


@dataclass
class GenScores:
    requests: int = 0
    ndcg10: float = 0.0
    recall10: float = 0.0
    invalid_rate: float = 0.0
    repeat_rate: float = 0.0
    in_history_rate: float = 0.0
    count_accuracy: float = 0.0
    category_accuracy: float = 0.0
    mean_reward: float = 0.0
    seconds: float = 0.0
    per_task: dict = field(default_factory=dict)  # task -> requests

    def to_dict(self) -> dict:
        return asdict(self)


def eval_examples(builder: GenTaskBuilder, histories: list[list[int]], targets: list[int], n_users: int,
                  seed: int = 0) -> list[GenExample]:
    """For n_users held-out users (drawn with `seed`): a next-items request each, then a count
    request for every other user and a category request for the rest, over the same history.
    Counts and categories come from the builder's random stream (a fresh builder repeats them)."""
    rows = random.Random(seed).sample(range(len(histories)), min(n_users, len(histories)))
    out = []
    for n, row in enumerate(rows):
        history = [int(i) for i in histories[row]][-builder.history_len:]
        target = int(targets[row])
        out.append(builder.next_items(history, target))
        out.append(builder.count(history, target) if n % 2 == 0 else builder.category(history=history))
    return out


def generate_replies(model, tokenizer, examples: list[GenExample], max_new_tokens: int = 256, batch_size: int = 8,
                     trie=None, progress: bool = True, temperature: float = 0.0, seed: int = 0) -> list[str]:
    """Greedy replies (temperature 0), or sampled ones reproducible from `seed` (each batch of
    `batch_size` draws from its own seed); with a `TitleTrie`, decoded under the catalog constraint
    (history excluded)."""
    from recai.generation import GenerationConfig, generate

    replies = []
    t0 = time.monotonic()
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        prompts = [tokenizer.encode_chat(ex.messages(with_answer=False)) for ex in chunk]
        processors = ()
        if trie is not None:
            width = max(len(p) for p in prompts)
            procs = [TitleConstraint(trie, count=ex.count, max_items=ex.count or 10, exclude=tuple(ex.history))
                     .processor(tokenizer, width) for ex in chunk]
            processors = (batched(procs),)
        cfg = GenerationConfig(max_new_tokens=max_new_tokens, temperature=temperature, logits_processors=processors,
                               seed=seed * 100003 + start if temperature else None)
        replies += [g.text for g in generate(model, prompts, tokenizer, cfg)]
        if progress:
            done = start + len(chunk)
            print(f"\rgenerating {done}/{len(examples)}  {time.monotonic() - t0:.0f} s", end="", file=sys.stderr,
                  flush=True)
    if progress:
        print(file=sys.stderr)
    return replies


def score_replies(examples: list[GenExample], replies: list[str], matcher, teacher, categories) -> GenScores:
    s = GenScores(requests=len(examples))
    names = {"invalid": 0, "repeat": 0, "in_history": 0}
    written = 0
    ndcg, recall, counts, cats, rewards = [], [], [], [], []
    ranks_by_history: dict[tuple, dict[int, int]] = {}
    for ex, reply in zip(examples, replies):
        s.per_task[ex.task] = s.per_task.get(ex.task, 0) + 1
        g = ground(reply, matcher, history=ex.history, count=ex.count)
        written += len(g.items)
        for k in names:
            names[k] += g.count(k)
        valid = g.valid
        if ex.task == "next_items" and ex.target is not None:
            rank = valid.index(ex.target) + 1 if ex.target in valid[:10] else 0
            ndcg.append(1 / math.log2(rank + 1) if rank else 0.0)
            recall.append(1.0 if rank else 0.0)
        if ex.count is not None:
            counts.append(float(len(valid) == ex.count))
        if ex.want:
            fits = [i for i in valid if any(c in ex.want for c in categories[i])]
            cats.append(len(fits) / len(valid) if valid else 0.0)
        key = tuple(ex.history)
        if key not in ranks_by_history:  # a user's two requests share one teacher pass
            ranks_by_history[key] = teacher_ranks(teacher, ex.history) if ex.history else {}
        ranks = ranks_by_history[key]
        rewards.append(sum(item_rewards(g, ex.target, ranks, categories, ex.want)) + list_reward(g, ex.count))
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    s.ndcg10, s.recall10 = mean(ndcg), mean(recall)
    s.invalid_rate, s.repeat_rate, s.in_history_rate = (names[k] / written if written else 0.0 for k in names)
    s.count_accuracy, s.category_accuracy, s.mean_reward = mean(counts), mean(cats), mean(rewards)
    return s

