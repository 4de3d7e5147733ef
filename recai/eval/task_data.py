"""The evaluator's task files: one JSONL record per question, built from any recai dataset.

A record is {"id", "task", "prompt", "target", "history", "candidates", "answer"} with titles, not
ids, so a file can be read, edited and reused by hand (RecLM-eval's layout, with an id added so an
interrupted run can resume). Users are the leave-one-out test users: the history is everything
before their last item, the target is the last item.

    retrieval        the history -> 10 titles; the target should be among them
    ranking          the history + `n_candidates` candidates (the target and sampled negatives) -> an order
    cf_ranking_mc    a shuffled history with one item held out + 10 lettered candidates: which one
                     belongs to the history? (answer: a letter)
    seq_ranking_mc   the history in order + 10 lettered candidates: which comes next? (a letter)
    explanation      the history and the target: why would the user like it? (judged)
    conversation     the history and the target for a simulated user (no prompt)
    chitchat         general questions about the domain (judged)

Negatives come from the dataset's own negative samples when it has them (RecAI's
negative_samples.txt), else uniformly from the items outside the user's history.
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from recai.errors import DataError

TASKS = ("retrieval", "ranking", "cf_ranking_mc", "seq_ranking_mc", "explanation", "conversation", "chitchat")
LETTERS = "ABCDEFGHIJ"
FIELDS = ("id", "task", "prompt", "target", "history", "candidates", "answer")
CHITCHAT = ["What makes a movie a classic?", "How do you pick a film for a rainy evening?",
            "Why do people like horror movies?", "What is the difference between a sequel and a remake?",
            "Can you recommend a way to discover older films?", "What makes a good movie soundtrack?",
            "Why are animated movies popular with adults too?", "How do film festivals choose their winners?"]


@dataclass
class EvalItem:
    id: str
    task: str
    prompt: str
    target: str = ""
    history: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    answer: str | None = None  # the correct letter of a multiple-choice item

    def to_dict(self) -> dict:
        return asdict(self)


class TaskBuilder:
    """Questions over one dataset (a `recai.data.Dataset`); `history_len` recent items are shown."""

    def __init__(self, dataset, history_len: int = 20, seed: int = 0):
        self.titles = dataset.catalog.display_titles()
        self.n_items = len(self.titles)
        split = dataset.split("leave-one-out")
        test = split.test
        self.rows = [(dataset.interactions.user_ids[int(u)], [int(i) for i in h], int(t[0]))
                     for u, h, t in zip(test.users, test.history, test.targets) if len(h)]
        if not self.rows:
            raise DataError(f"{dataset.name}: no user with a history and a held-out item to ask about")
        self.negatives = dataset.negatives or {}
        self.history_len, self.seed = history_len, seed

    def _negatives(self, user: str, history: list[int], target: int, n: int, rng: random.Random) -> list[int]:
        banned = set(history) | {target}
        own = [int(i) for i in self.negatives.get(user, []) if int(i) not in banned]
        if len(own) >= n:
            return own[:n]
        pool = [i for i in range(self.n_items) if i not in banned and i not in own]
        return own + rng.sample(pool, min(n - len(own), len(pool)))

    def items(self, task: str, n: int, n_candidates: int = 20) -> list[EvalItem]:
        """Up to n records of `task` (the first n test users in a seeded order)."""
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
        rng = random.Random(f"{self.seed}:{task}")
        if task == "chitchat":
            return [EvalItem(f"chitchat-{k}", task, CHITCHAT[k % len(CHITCHAT)]) for k in range(min(n, len(CHITCHAT)))]
        rows = rng.sample(self.rows, min(n, len(self.rows)))
        return [self._item(task, user, history, target, n_candidates, rng) for user, history, target in rows]

    def _item(self, task, user, history, target, n_candidates, rng) -> EvalItem:
        shown = [self.titles[i] for i in history[-self.history_len:]]
        listed = ", ".join(shown)
        t = self.titles
        if task == "retrieval":
            prompt = (f"A user watched these movies, oldest first: {listed}. Recommend the 10 movies they are most "
                      "likely to watch next, as a numbered list of titles, and nothing else.")
            return EvalItem(f"{task}-{user}", task, prompt, t[target], shown)
        if task == "ranking":
            cands = self._negatives(user, history, target, n_candidates - 1, rng) + [target]
            rng.shuffle(cands)
            names = [t[c] for c in cands]
            prompt = (f"A user watched these movies, oldest first: {listed}. Rank these {len(names)} candidates from "
                      f"the one they are most likely to watch next to the least likely: {'; '.join(names)}. Answer "
                      "with a numbered list of the candidate titles, and nothing else.")
            return EvalItem(f"{task}-{user}", task, prompt, t[target], shown, names)
        if task in ("cf_ranking_mc", "seq_ranking_mc"):
            if task == "cf_ranking_mc":
                pool = list(dict.fromkeys(history[-self.history_len:]))
                held = rng.choice(pool)
                rest = [i for i in pool if i != held]
                rng.shuffle(rest)
                shown, question = [t[i] for i in rest], "Which candidate is most likely also in this user's history?"
                answer_item = held
                lead = f"A user watched these movies (in no particular order): {', '.join(shown)}."
            else:
                answer_item, question = target, "Which candidate will the user most likely watch next?"
                lead = f"A user watched these movies, oldest first: {listed}."
            cands = self._negatives(user, history + [target], answer_item, 9, rng) + [answer_item]
            rng.shuffle(cands)
            lettered = [f"{LETTERS[k]}. {t[c]}" for k, c in enumerate(cands)]
            prompt = (f"{lead} Candidates: {'; '.join(lettered)}. {question} Answer with the letter (A-J) only.")
            return EvalItem(f"{task}-{user}", task, prompt, t[answer_item], shown, lettered,
                            LETTERS[cands.index(answer_item)])
        if task == "explanation":
            prompt = (f"A user watched these movies, oldest first: {listed}. We recommend {t[target]} to them. In two "
                      "or three sentences, explain why they would enjoy it.")
            return EvalItem(f"{task}-{user}", task, prompt, t[target], shown)
        return EvalItem(f"{task}-{user}", task, "", t[target], shown)  # conversation: the simulator's brief


def title_index(titles: list[str]) -> dict[str, int]:
    """Display title -> catalog index (the first item of a repeated title): how records' titles map back."""
    out: dict[str, int] = {}
    for i, t in enumerate(titles):
        out.setdefault(t, i)
    return out


def write_items(items: list[EvalItem], path: str | Path) -> Path:
    """The records as JSONL, written atomically."""
    from recai.data.atomic import atomic_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_text(path) as f:
        for it in items:
            f.write(json.dumps(it.to_dict(), ensure_ascii=False) + "\n")
    return path


def read_items(path: str | Path) -> list[EvalItem]:
    """Records of a task file; DataError naming the file and line of a malformed one."""
    from recai.train.data import read_jsonl

    path = Path(path)
    out = []
    for n, row in enumerate(read_jsonl(path, required=[("id", "task")]), 1):
        if row["task"] not in TASKS:
            raise DataError(f"{path}: record {n}: unknown task {row['task']!r}")
        for key in ("history", "candidates"):
            if not isinstance(row.get(key, []), list):
                raise DataError(f"{path}: record {n}: '{key}' must be a list of titles")
        out.append(EvalItem(**{k: row[k] for k in FIELDS if k in row}))
    return out
