"""RecExplainer's alignment data: what the target recommender does, as chats a language model learns.

Tasks (answers always come from the target model, never from the ground truth):

    next_item        the target's top-1 item for this user ("1. Title", the constrained-list form), or
                     one of its top `next_k` drawn at random (so the model learns the target's top list)
    ranking          the target's order over 10 candidates (its best 5)
    classify         would the target score this item above its bar (inside its top `bar` items)? yes / no
    item             item discrimination: an item vector -> its title and genres (vector modes), and
                     an item -> the items the target's vectors put closest to it
    history          history reconstruction: items this user interacted with
    explain          a template explanation built from the target's behaviour (rank, closest history
                     items by its item vectors, shared genres), so the model learns the form
    chat             general instructions, so the model keeps answering in sentences

Modes decide how the user and items appear in a prompt:

    behaviour   the user as text (their recent titles); items as titles
    intention   the user as a `<user>` slot (the target's user vector); items as `<item>` slot + title
    hybrid      both: `<user>` slot and the recent titles; items as `<item>` slot + title

Every `<user>` / `<item>` marker in a prompt has one vector in `AlignExample.vectors`, in order.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

MODES = ("behaviour", "intention", "hybrid")
TASKS = ("next_item", "ranking", "classify", "item", "history", "explain", "chat")
DEFAULT_MIX = {"next_item": 0.2, "ranking": 0.15, "classify": 0.2, "item": 0.15, "history": 0.1, "explain": 0.1,
               "chat": 0.1}
SYSTEM = "You are a recommender system's explainer. You know how the recommender behaves for every user."
USER, ITEM = "<user>", "<item>"


@dataclass
class AlignExample:
    task: str
    prompt: str
    response: str
    vectors: list[torch.Tensor] = field(default_factory=list)  # one per slot marker in the prompt, in order
    user: int | None = None
    history: list[int] = field(default_factory=list)
    items: list[int] = field(default_factory=list)  # the items the answer names, in order
    candidates: list[int] = field(default_factory=list)
    label: bool | None = None  # classify: the target's yes / no

    def messages(self, with_answer: bool = True) -> list[dict]:
        out = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": self.prompt}]
        return out + ([{"role": "assistant", "content": self.response}] if with_answer else [])


class AlignTaskBuilder:
    """Examples over one catalog for `target` (a `TargetModel`); `users` are (user index, history) pairs."""

    def __init__(self, catalog, target, users: list[tuple[int, list[int]]], mode: str = "hybrid",
                 history_len: int = 10, bar: int = 50, seed: int = 0, next_k: int = 1):
        if mode not in MODES:
            raise ValueError(f"unknown alignment mode {mode!r}; choose one of {', '.join(MODES)}")
        self.users = [(int(u), [int(i) for i in h]) for u, h in users if len(h) > 0]
        if not self.users:
            raise ValueError("no user with a history to build alignment examples from")
        self.catalog, self.target, self.mode = catalog, target, mode
        self.titles = catalog.display_titles()
        genre = "genres" if "genres" in catalog.schema else None
        self.genres = [[g for g in (v or []) if g != "(no genres listed)"] for v in catalog.values(genre)] \
            if genre else [[] for _ in range(len(catalog))]
        if next_k < 1:
            raise ValueError(f"next_k must be >= 1, got {next_k}")
        self.history_len, self.bar, self.next_k = history_len, bar, next_k
        self.rng = random.Random(seed)

    # ---- how users and items are written ------------------------------------------------------
    def _user(self, user: int, history: list[int], vectors: list) -> str:
        recent = "; ".join(self.titles[i] for i in history[-self.history_len:])
        if self.mode == "behaviour":
            return f"A user watched, oldest first: {recent}."
        vectors.append(self.target.user_vector(user, history))
        if self.mode == "intention":
            return f"The user is {USER}."
        return f"The user is {USER}; they watched, oldest first: {recent}."

    def _item(self, item: int, vectors: list) -> str:
        if self.mode == "behaviour":
            return self.titles[item]
        vectors.append(self.target.item_vector(item))
        return f"{ITEM} {self.titles[item]}"

    def _draw(self) -> tuple[int, list[int]]:
        return self.rng.choice(self.users)

    def _candidates(self, user: int, history: list[int], n: int = 10) -> list[int]:
        """n unseen items: half from the target's top 30 (so the order matters), half at random."""
        top = self.target.top(user, history, 30)
        seen = set(history)
        picked = self.rng.sample(top, min(n // 2, len(top)))
        pool = [i for i in range(self.target.n_items) if i not in seen and i not in picked]
        picked += self.rng.sample(pool, n - len(picked))
        self.rng.shuffle(picked)
        return picked

    # ---- tasks ---------------------------------------------------------------------------------
    def next_item(self, user=None, history=None) -> AlignExample:
        if user is None:
            user, history = self._draw()
        v: list = []
        prompt = f"{self._user(user, history, v)} Which movie does the recommender rank first for this user?"
        # next_k > 1 spreads the answers over the target's top list: Hit@k fidelity asks the model to
        # rank those k items first, which one top-1 answer per user teaches only a tenth of.
        top = self.target.top(user, history, self.next_k)
        best = top[0] if self.next_k == 1 else self.rng.choice(top)
        # A one-line numbered list, the form catalog-constrained decoding writes (and ranking
        # answers start with), so a constrained answer continues what the model learned.
        return AlignExample("next_item", prompt, f"1. {self.titles[best]}", v, user, history, [best])

    def ranking(self, user=None, history=None) -> AlignExample:
        if user is None:
            user, history = self._draw()
        v: list = []
        head = self._user(user, history, v)
        cands = self._candidates(user, history)
        listed = "; ".join(self._item(c, v) for c in cands)
        scores = self.target.scores(user, history)
        order = sorted(cands, key=lambda c: -float(scores[c]))[:5]
        prompt = f"{head} Rank these candidates as the recommender would, best five first: {listed}."
        answer = "\n".join(f"{n}. {self.titles[i]}" for n, i in enumerate(order, 1))
        return AlignExample("ranking", prompt, answer, v, user, history, order, cands)

    def classify(self, user=None, history=None, positive: bool | None = None) -> AlignExample:
        if user is None:
            user, history = self._draw()
        positive = self.rng.random() < 0.5 if positive is None else positive
        v: list = []
        head = self._user(user, history, v)
        ranked = torch.argsort(self.target.scores(user, history), descending=True).tolist()
        unseen = ranked[:len(ranked) - len(set(history))]
        bar = max(1, min(self.bar, len(unseen) // 2))  # a small catalog gets a lower bar
        item = self.rng.choice(unseen[:bar] if positive else unseen[bar:])
        prompt = (f"{head} Would the recommender place {self._item(item, v)} among its top {bar} for this "
                  "user? Answer yes or no.")
        return AlignExample("classify", prompt, "Yes." if positive else "No.", v, user, history, [item],
                            label=positive)

    def item(self, item: int | None = None) -> AlignExample:
        item = self.rng.randrange(self.target.n_items) if item is None else item
        v: list = []
        if self.mode != "behaviour" and self.rng.random() < 0.5:
            v.append(self.target.item_vector(item))
            genres = ", ".join(self.genres[item]) or "no listed genre"
            return AlignExample("item", f"Which movie is {ITEM}?", f"{self.titles[item]}: {genres}.", v,
                                items=[item])
        close = self.target.similar_items(item, 3)
        prompt = f"Which movies does the recommender consider closest to {self._item(item, v)}?"
        answer = "; ".join(self.titles[i] for i in close) + "."
        return AlignExample("item", prompt, answer, v, items=close, candidates=[item])

    def history(self, user=None, history=None) -> AlignExample:
        if user is None:
            user, history = self._draw()
        v: list = []
        recent = list(dict.fromkeys(reversed(history)))[:5]
        prompt = f"{self._user(user, history, v)} Name up to five movies this user watched most recently."
        return AlignExample("history", prompt, "; ".join(self.titles[i] for i in recent) + ".", v, user, history,
                            recent)

    def explain(self, user=None, history=None, item: int | None = None) -> AlignExample:
        if user is None:
            user, history = self._draw()
        v: list = []
        head = self._user(user, history, v)
        scores = self.target.scores(user, history)
        item = self.target.top(user, history, 5)[self.rng.randrange(5)] if item is None else item
        prompt = f"{head} The recommender suggests {self._item(item, v)}. Explain why, in two sentences."
        return AlignExample("explain", prompt, self.explanation(user, history, item, scores), v, user, history, [item])

    def explanation(self, user: int, history: list[int], item: int, scores=None) -> str:
        """What the target's own numbers say about this recommendation, in two sentences."""
        scores = self.target.scores(user, history) if scores is None else scores
        rank = int((scores > scores[item]).sum()) + 1
        vectors = torch.nn.functional.normalize(self.target.items, dim=1)
        recent = list(dict.fromkeys(history[-self.history_len:]))
        sims = vectors[recent] @ vectors[item]
        close = [recent[i] for i in torch.argsort(sims, descending=True)[:2].tolist()]
        shared = sorted(set(self.genres[item]) & {g for h in recent for g in self.genres[h]})
        first = f"The recommender ranks {self.titles[item]} #{rank} for this user"
        first += f" because it sits close to {' and '.join(self.titles[c] for c in close)} in its item space." \
            if close else "."
        second = (f"It shares the genres {', '.join(shared[:3])} with what they watched." if shared else
                  "It broadens their usual genres.")
        return f"{first} {second}"

    def chat(self) -> AlignExample:
        r = self.rng
        kind = r.randrange(3)
        if kind == 0:
            a, b = r.randint(2, 99), r.randint(2, 99)
            return AlignExample("chat", f"What is {a} + {b}?", f"{a} + {b} = {a + b}.")
        if kind == 1:
            word = r.choice(["cinema", "popcorn", "ticket", "screen", "sequel", "trailer"])
            return AlignExample("chat", f"Spell '{word}' backwards.", f"'{word}' backwards is '{word[::-1]}'.")
        return AlignExample("chat", "Hello!", "Hello! Ask me why the recommender suggests a movie to someone.")

    def examples(self, n: int, mix: dict[str, float] | None = None) -> list[AlignExample]:
        """n examples drawn by the task mix (default DEFAULT_MIX), reproducible from the seed."""
        mix = mix or DEFAULT_MIX
        unknown = set(mix) - set(TASKS)
        if unknown:
            raise ValueError(f"unknown tasks {sorted(unknown)}; known: {', '.join(TASKS)}")
        make = {"next_item": self.next_item, "ranking": self.ranking, "classify": self.classify, "item": self.item,
                "history": self.history, "explain": self.explain, "chat": self.chat}
        names = list(mix)
        return [make[self.rng.choices(names, [mix[t] for t in names])[0]]() for _ in range(n)]
