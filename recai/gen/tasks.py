"""RecLM-gen's SFT data: recommendation tasks built from interactions and a teacher recommender.

Every example is a chat: the user's request, and as the answer a numbered list of catalog titles
exactly as the catalog writes them ("1. Matrix, The (1999)"), the form the grounding parses and the
catalog constraint produces. Tasks:

    next_items         history -> k items: the true next item first, then the teacher's ranking
    candidate_rank     history + shuffled candidates -> the best k of them (target first, teacher order)
    category           "k comedies" for a user (teacher order within the category)
    category_cold      "k comedies" with no history (popularity order within the category)
    category_mix       "a comedies and b dramas" (teacher order, quotas filled)
    count              "exactly k movies" for k in 1..10
    chat               general instructions (arithmetic, words, catalog facts, greetings), so the
                       model keeps answering ordinary requests in sentences

The teacher is any scorer with `score(histories=[...]) -> (B, N)` (SASRec from `recai.recsys`).
Histories show the last `history_len` items, oldest first.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

TASKS = ("next_items", "candidate_rank", "category", "category_cold", "category_mix", "count", "chat")
DEFAULT_MIX = {"next_items": 0.3, "candidate_rank": 0.1, "category": 0.15, "category_cold": 0.05,
               "category_mix": 0.1, "count": 0.15, "chat": 0.15}
SYSTEM = "You are a movie recommender. Recommend only real movies, as a numbered list of titles with years."
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
PLURALS = {"Comedy": "comedies", "Drama": "dramas", "Thriller": "thrillers", "Romance": "romance movies",
           "Action": "action movies", "Adventure": "adventure movies", "Crime": "crime movies",
           "Horror": "horror movies", "Sci-Fi": "sci-fi movies", "Fantasy": "fantasy movies",
           "Children": "children's movies", "Mystery": "mysteries", "Documentary": "documentaries",
           "Animation": "animated movies", "Musical": "musicals", "War": "war movies", "Western": "westerns",
           "Film-Noir": "film noirs", "IMAX": "IMAX movies"}


@dataclass
class GenExample:
    task: str
    prompt: str  # the user's message
    response: str  # the gold answer
    history: list[int] = field(default_factory=list)  # catalog indices shown in the prompt
    target: int | None = None  # the held-out next item, when the task has one
    count: int | None = None  # items requested
    want: dict[str, int] | None = None  # category quotas
    candidates: list[int] | None = None

    def messages(self, with_answer: bool = True) -> list[dict]:
        out = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": self.prompt}]
        return out + ([{"role": "assistant", "content": self.response}] if with_answer else [])

    def sft_row(self) -> dict:
        return {"messages": self.messages(), "task": self.task}


def teacher_order(teacher, history: list[int], exclude=(), top: int = 200) -> list[int]:
    """The teacher's best `top` catalog indices for this history, history and `exclude` left out."""
    scores = teacher.score(histories=[history])[0].float().clone()
    scores[list(set(history) | set(exclude))] = float("-inf")
    return torch.topk(scores, min(top, len(scores))).indices.tolist()


def teacher_ranks(teacher, history: list[int], top: int = 100) -> dict[int, int]:
    """Catalog index -> 0-based teacher rank, for the top items (what the rewards read)."""
    return {i: r for r, i in enumerate(teacher_order(teacher, history, top=top))}


def numbered(titles: list[str]) -> str:
    return "\n".join(f"{n}. {t}" for n, t in enumerate(titles, 1))


class GenTaskBuilder:
    """Examples over one catalog: `sequences` are the users' training sequences (catalog indices,
    oldest first); `teacher` scores items from a history."""

    def __init__(self, catalog, sequences, teacher, popularity, history_len: int = 10, k: int = 10, seed: int = 0):
        self.catalog, self.teacher = catalog, teacher
        self.titles = catalog.titles
        self.sequences = [list(map(int, s)) for s in sequences]
        self.users = [u for u, s in enumerate(self.sequences) if len(s) >= 2]
        if not self.users:
            raise ValueError("no user has two or more items: next-item tasks need a history and a target")
        self.popularity = torch.as_tensor(popularity, dtype=torch.float32)
        self.history_len, self.k = history_len, k
        self.rng = random.Random(seed)
        attr = "genres" if "genres" in catalog.schema else None
        self.categories = [list(catalog.item(i).get(attr) or []) for i in range(len(catalog))] if attr else None
        counts: dict[str, int] = {}
        for cats in self.categories or []:
            for c in cats:
                counts[c] = counts.get(c, 0) + 1
        # Categories with enough items to fill a list, named in the prompt as a plural.
        self.category_names = sorted(c for c, n in counts.items() if n >= 3 * k and c in PLURALS)

    # ---- helpers -------------------------------------------------------------------------------
    def _history_prompt(self, history: list[int]) -> str:
        shown = "; ".join(self.titles[i] for i in history)
        return f"I watched these movies, oldest first: {shown}."

    def _ranked(self, history: list[int], exclude=()) -> list[int]:
        return teacher_order(self.teacher, history, exclude)

    def _popular(self, exclude=()) -> list[int]:
        scores = self.popularity.clone()
        if exclude:
            scores[list(exclude)] = float("-inf")
        return torch.topk(scores, min(200, len(scores))).indices.tolist()

    def _in(self, items: list[int], category: str) -> list[int]:
        return [i for i in items if category in self.categories[i]]

    def _user(self):
        u = self.rng.choice(self.users)
        seq = self.sequences[u]
        cut = len(seq) - 1 if self.rng.random() < 0.5 else self.rng.randrange(1, len(seq))
        return seq[max(0, cut - self.history_len):cut], seq[cut]

    # ---- tasks ---------------------------------------------------------------------------------
    def next_items(self, history=None, target=None) -> GenExample:
        if history is None:
            history, target = self._user()
        known = [target] if target is not None else []
        items = known + self._ranked(history, known)
        prompt = f"{self._history_prompt(history)} Recommend {self.k} movies I should watch next."
        return GenExample("next_items", prompt, numbered([self.titles[i] for i in items[:self.k]]), history, target,
                          self.k)

    def candidate_rank(self) -> GenExample:
        history, target = self._user()
        n, pick = 10, 3
        pool = [i for i in range(len(self.titles)) if i not in set(history) and i != target]
        candidates = self.rng.sample(pool, n - 1) + [target]
        self.rng.shuffle(candidates)
        order = {i: r for r, i in enumerate(self._ranked(history, [target]))}
        ranked = [target] + sorted((c for c in candidates if c != target), key=lambda c: order.get(c, 10**9))
        prompt = (f"{self._history_prompt(history)} From these candidates, pick the {NUMBER_WORDS[pick]} I would "
                  f"like most, best first: {'; '.join(self.titles[c] for c in candidates)}.")
        return GenExample("candidate_rank", prompt, numbered([self.titles[i] for i in ranked[:pick]]), history, target,
                          pick, candidates=candidates)

    def category(self, cold: bool = False, history=None) -> GenExample:
        """k items of one category; for a drawn user, or for `history` when given."""
        if not self.category_names:
            return self.count(history)
        cat = self.rng.choice(self.category_names)
        k = self.rng.choice([3, 5, 5, 10])
        if cold:
            items = self._in(self._popular(), cat)
            prompt, history = f"Recommend {NUMBER_WORDS[k]} popular {PLURALS[cat]}.", []
        else:
            if history is None:
                history, _ = self._user()
            items = self._in(self._ranked(history), cat)
            prompt = f"{self._history_prompt(history)} Recommend {NUMBER_WORDS[k]} {PLURALS[cat]} for me."
        items = (items + self._in(self._popular(exclude=set(history) | set(items)), cat))[:k]
        return GenExample("category_cold" if cold else "category", prompt, numbered([self.titles[i] for i in items]),
                          history, None, k, {cat: k})

    def category_mix(self) -> GenExample:
        if len(self.category_names) < 2:
            return self.count()
        a, b = self.rng.sample(self.category_names, 2)
        na, nb = self.rng.choice([(2, 1), (2, 2), (3, 2), (1, 3)])
        history, _ = self._user()
        ranked = self._ranked(history)
        quota, chosen = {a: na, b: nb}, []
        for i in ranked + self._popular(exclude=set(history)):
            cats = [c for c in (a, b) if c in self.categories[i] and quota[c] > 0]
            if cats and i not in chosen:
                quota[cats[0]] -= 1
                chosen.append(i)
            if not any(quota.values()):
                break
        prompt = (f"{self._history_prompt(history)} Recommend {NUMBER_WORDS[na]} {PLURALS[a]} and "
                  f"{NUMBER_WORDS[nb]} {PLURALS[b]}.")
        return GenExample("category_mix", prompt, numbered([self.titles[i] for i in chosen]), history, None, na + nb,
                          {a: na, b: nb})

    def count(self, history=None, target=None) -> GenExample:
        """Exactly k items (1..10); for a drawn user, or for `history` and its `target` when given."""
        if history is None:
            history, target = self._user()
        k = self.rng.randint(1, 10)
        known = [target] if target is not None else []
        items = known + self._ranked(history, known)
        word = NUMBER_WORDS[k] if self.rng.random() < 0.5 else str(k)
        noun = "movie" if k == 1 else "movies"
        prompt = f"{self._history_prompt(history)} Recommend exactly {word} {noun}."
        return GenExample("count", prompt, numbered([self.titles[i] for i in items[:k]]), history, target, k)

    def chat(self) -> GenExample:
        kind = self.rng.randrange(6)
        r = self.rng
        if kind == 0:
            a, b = r.randint(2, 99), r.randint(2, 99)
            return GenExample("chat", f"What is {a} + {b}?", f"{a} + {b} = {a + b}.")
        if kind == 1:
            word = r.choice(["cinema", "popcorn", "ticket", "screen", "actor", "sequel", "trailer", "studio"])
            return GenExample("chat", f"Write the word '{word}' backwards.", f"'{word}' backwards is '{word[::-1]}'.")
        i = r.randrange(len(self.titles))
        item = self.catalog.item(i)
        if kind == 2 and item.get("year"):
            return GenExample("chat", f"When was {self.titles[i]} released?",
                              f"{self.titles[i]} was released in {item['year']}.")
        if kind == 3 and self.categories and self.categories[i]:
            cats = [c for c in self.categories[i] if c != "(no genres listed)"]
            if cats:
                return GenExample("chat", f"What kind of movie is {self.titles[i]}?",
                                  f"{self.titles[i]} is listed as " + ", ".join(cats) + ".")
        if kind == 4:
            nums = [r.randint(1, 50) for _ in range(r.randint(3, 6))]
            return GenExample("chat", f"Sort these numbers from smallest to largest: {', '.join(map(str, nums))}.",
                              ", ".join(map(str, sorted(nums))) + ".")
        greeting = r.choice(["Hi!", "Hello there.", "Hey, how are you?", "Good evening!"])
        return GenExample("chat", greeting, "Hello! Tell me a few movies you liked and I will recommend more.")

    def examples(self, n: int, mix: dict[str, float] | None = None) -> list[GenExample]:
        """n examples drawn by the task mix (default DEFAULT_MIX), reproducible from the seed."""
        mix = mix or DEFAULT_MIX
        unknown = set(mix) - set(TASKS)
        if unknown:
            raise ValueError(f"unknown tasks {sorted(unknown)}; known: {', '.join(TASKS)}")
        names, weights = list(mix), [mix[t] for t in mix]
        make = {"next_items": self.next_items, "candidate_rank": self.candidate_rank, "category": self.category,
                "category_cold": lambda: self.category(cold=True), "category_mix": self.category_mix,
                "count": self.count, "chat": self.chat}
        return [make[self.rng.choices(names, weights)[0]]() for _ in range(n)]
