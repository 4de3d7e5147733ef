"""RecLM-emb's ten matching tasks, generated from a Catalog and Interactions (no API needed).

    split = build_tasks(ds.catalog, ds.interactions, n_train=2000, n_test=200)
    split.train[0]   # Query(task='vague_condition', text='a popular recent Comedy movie', target=812, ...)

Every query asks for one catalog item (the target) the way people ask: from a viewing history,
from a similar item, from a summary of taste, from attributes (all, a few, summarised, vague,
negated), from a misspelled title, or from a history plus a wish. Each query carries hard
negatives that break at least one requested attribute, and the items it names (`exclude`), which
do not count as answers. Test queries are unseen in training: item-centred tasks ask for held-out
items that never appear as a training positive, user-centred tasks come from held-out users.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from recai.emb import templates as T
from recai.errors import DataError

TASKS = ("history_next", "similar_item", "user_summary", "full_attributes", "sparse_attributes",
         "attribute_summary", "misspelled_title", "vague_condition", "negative_attributes", "history_query")
USER_TASKS = ("history_next", "user_summary", "history_query")


@dataclass
class Query:
    task: str
    text: str
    target: int  # catalog index of the item asked for
    negatives: list[int] = field(default_factory=list)  # items that break a requested attribute
    exclude: list[int] = field(default_factory=list)  # items named in the query (not answers)


@dataclass
class TaskSplit:
    train: list[Query]
    test: list[Query]
    test_items: set[int]
    test_users: set[int]
    skipped: dict[str, str] = field(default_factory=dict)  # task → why it could not be built here


def item_text(row: dict, list_attrs: list[str]) -> str:
    """"Title. genres: A, B. tags: x" — how an item is embedded: its title, then each non-empty list attribute."""
    parts = [row["title"]]
    parts += [f"{a}: {', '.join(map(str, row[a]))}" for a in list_attrs if row.get(a)]
    return ". ".join(parts)


def catalog_texts(catalog) -> list[str]:
    """item_text of every catalog item, in index order."""
    lists = [a for a, kind in catalog.schema.items() if kind == "list"]
    columns = {a: catalog.values(a) for a in lists}
    titles = catalog.values("title")
    return [item_text({"title": t, **{a: columns[a][i] for a in lists}}, lists) for i, t in enumerate(titles)]


class Facts:
    """What the generators read about items: titles, categories, tags, year and numeric signals."""

    def __init__(self, catalog, interactions):
        schema = catalog.schema
        self.n = len(catalog)
        self.titles = catalog.values("title")
        self.bare = [_strip_year(t) for t in self.titles]
        lists = [a for a, kind in schema.items() if kind == "list"]
        self.cat_attr = "genres" if "genres" in lists else (lists[0] if lists else None)
        self.cats = [c or [] for c in catalog.values(self.cat_attr)] if self.cat_attr else [[] for _ in range(self.n)]
        tag_attr = "tags" if "tags" in lists and self.cat_attr != "tags" else None
        self.tags = [t or [] for t in catalog.values(tag_attr)] if tag_attr else [[] for _ in range(self.n)]
        self.year = self._numeric(catalog, "year")
        counts = interactions.item_counts() if len(interactions) else np.zeros(self.n)
        self.popularity = np.asarray(counts, dtype=np.float64)
        self.rating = self._numeric(catalog, "avg_rating")
        self.price = self._numeric(catalog, "price")
        self.by_cat: dict[str, list[int]] = {}
        for i, cs in enumerate(self.cats):
            for c in cs:
                self.by_cat.setdefault(c, []).append(i)

    @staticmethod
    def _numeric(catalog, name: str) -> np.ndarray | None:
        if catalog.schema.get(name) not in ("int", "float"):
            return None
        return np.array([np.nan if v is None else float(v) for v in catalog.values(name)])

    def has_year(self, i: int) -> bool:
        return self.year is not None and not np.isnan(self.year[i])

    def decade(self, i: int) -> int:
        return int(self.year[i]) // 10 * 10


def _strip_year(title: str) -> str:
    t = title.rstrip()
    if t.endswith(")") and "(" in t and t[t.rindex("(") + 1:-1].strip().isdigit():
        t = t[:t.rindex("(")].rstrip()
    return t


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def cooccurrence_neighbours(interactions, n_items: int, window: int = 3, min_count: int = 2) -> dict[int, int]:
    """Each item's most frequent neighbour within `window` positions of user sequences, when the
    pair occurs at least min_count times (one shared viewer says little)."""
    heads, tails = [], []
    for seq in interactions.sequences():
        for d in range(1, window + 1):
            if len(seq) > d:
                heads += [seq[:-d], seq[d:]]
                tails += [seq[d:], seq[:-d]]
    if not heads:
        return {}
    a, b = np.concatenate(heads), np.concatenate(tails)
    keep = a != b
    pairs, counts = np.unique(a[keep] * n_items + b[keep], return_counts=True)
    order = np.lexsort((-counts, pairs // n_items))  # per item, most frequent neighbour first
    best: dict[int, int] = {}
    for p, c in zip(pairs[order], counts[order]):
        if c >= min_count:
            best.setdefault(int(p // n_items), int(p % n_items))
    return best


class _Generators:
    """One method per task: (rng, item or user) → Query or None when it does not apply."""

    def __init__(self, facts: Facts, interactions, neighbours: dict[int, int], allowed_targets: set[int]):
        self.f, self.inter, self.nb, self.allowed = facts, interactions, neighbours, allowed_targets
        f = facts
        self.cut = {}
        if f.year is not None:
            years = f.year[~np.isnan(f.year)]
            self.cut["recent"] = np.percentile(years, 90)
            self.cut["classic"] = np.percentile(years, 10)
        self.cut["popular"] = np.percentile(f.popularity, 95)
        if f.rating is not None:
            self.cut["acclaimed"] = 4.0
        if f.price is not None:
            self.cut["cheap"] = np.nanpercentile(f.price, 20)

    # ---- helpers -----------------------------------------------------------------------------
    def _pick(self, rng, pool, ok, tries: int = 30) -> int | None:
        for _ in range(tries):
            j = pool[rng.randrange(len(pool))]
            if ok(j):
                return j
        return None

    def _any(self, rng, ok) -> int | None:
        return self._pick(rng, range(self.f.n), ok, 60)

    def _negs(self, *found) -> list[int]:
        return [j for j in found if j is not None]

    def _history(self, rng, u: int, min_len: int = 4):
        seq = self.inter.sequence(u)
        if len(seq) < min_len:
            return None
        positions = [t for t in range(3, len(seq)) if int(seq[t]) in self.allowed]
        if not positions:
            return None
        t = rng.choice(positions)
        hist = [int(i) for i in seq[max(0, t - rng.randint(3, 4)):t]]
        return hist, int(seq[t])

    def _titles(self, items: list[int]) -> str:
        return _join([self.f.titles[i] for i in items])

    # ---- user-centred tasks ------------------------------------------------------------------
    def history_next(self, rng, u):
        h = self._history(rng, u)
        if h is None:
            return None
        hist, target = h
        neg = self._any(rng, lambda j: j not in hist and j != target and self.f.popularity[j] > 0)
        return Query("history_next", rng.choice(T.HISTORY_NEXT).format(history=self._titles(hist)), target,
                     self._negs(neg), hist)

    def user_summary(self, rng, u):
        f, seq = self.f, [int(i) for i in self.inter.sequence(u)]
        if len(seq) < 5 or f.year is None:
            return None
        top = [c for c, _ in Counter(c for i in seq for c in f.cats[i]).most_common(2)]
        decades = Counter(f.decade(i) for i in seq if f.has_year(i))
        if not top or not decades:
            return None
        decade = decades.most_common(1)[0][0]
        fits = [i for i in seq if i in self.allowed and set(top) & set(f.cats[i]) and f.has_year(i)
                and f.decade(i) == decade]
        if not fits:
            return None
        target = rng.choices(fits, weights=[np.sqrt(f.popularity[i]) + 1e-9 for i in fits])[0]
        neg = self._any(rng, lambda j: not set(top) & set(f.cats[j]))
        text = rng.choice(T.USER_SUMMARY).format(genres=_join(top), decade=decade)
        return Query("user_summary", text, target, self._negs(neg))

    def history_query(self, rng, u):
        h = self._history(rng, u)
        if h is None or not self.f.cats[h[1]]:
            return None
        hist, target = h
        genre = rng.choice(self.f.cats[target])
        neg = self._any(rng, lambda j: genre not in self.f.cats[j] and j not in hist and self.f.popularity[j] > 0)
        text = rng.choice(T.HISTORY_QUERY).format(history=self._titles(hist), genre=genre)
        return Query("history_query", text, target, self._negs(neg), hist)

    # ---- item-centred tasks ------------------------------------------------------------------
    def similar_item(self, rng, i):
        j = self.nb.get(i)
        if j is None or j not in self.allowed:
            return None
        cats = set(self.f.cats[j])
        neg = self._any(rng, lambda x: x not in (i, j) and not cats & set(self.f.cats[x]))
        return Query("similar_item", rng.choice(T.SIMILAR_ITEM).format(title=self.f.titles[i]), j, self._negs(neg), [i])

    def full_attributes(self, rng, i):
        f = self.f
        if not f.cats[i] or not f.has_year(i):
            return None
        tags = f" Tagged {', '.join(f.tags[i][:3])}." if f.tags[i] else ""
        text = rng.choice(T.FULL_ATTRIBUTES).format(year=int(f.year[i]), genres=", ".join(f.cats[i]), tags=tags)
        other_year = self._pick(rng, f.by_cat[f.cats[i][0]],
                                lambda j: f.has_year(j) and abs(f.year[j] - f.year[i]) >= 5)
        return Query("full_attributes", text, i, self._negs(other_year))

    def sparse_attributes(self, rng, i):
        f = self.f
        if f.tags[i] and rng.random() < 0.3:
            tag = rng.choice(f.tags[i])
            text = rng.choice(T.SPARSE_ATTRIBUTES[4:]).format(tag=tag)
            neg = self._any(rng, lambda j: tag not in f.tags[j] and set(f.cats[j]) & set(f.cats[i]))
            return Query("sparse_attributes", text, i, self._negs(neg))
        if not f.cats[i] or not f.has_year(i):
            return None
        genre = rng.choice(f.cats[i])
        text = rng.choice(T.SPARSE_ATTRIBUTES[:4]).format(genre=genre, year=int(f.year[i]))
        neg = self._pick(rng, f.by_cat[genre], lambda j: f.has_year(j) and f.year[j] != f.year[i])
        return Query("sparse_attributes", text, i, self._negs(neg))

    def attribute_summary(self, rng, i):
        f = self.f
        moods = [c for c in f.cats[i] if c in T.MOODS]
        if len(moods) < 1 or not f.has_year(i):
            return None
        mood, genre = rng.choice(moods), rng.choice(f.cats[i])
        text = rng.choice(T.ATTRIBUTE_SUMMARY).format(mood=T.MOODS[mood], genre=genre.lower(), decade=f.decade(i))
        neg = self._pick(rng, f.by_cat[genre], lambda j: f.has_year(j) and f.decade(j) != f.decade(i))
        return Query("attribute_summary", text, i, self._negs(neg))

    def misspelled_title(self, rng, i):
        text = misspell(self.f.bare[i], rng)
        words = {w for w in self.f.bare[i].lower().split() if len(w) > 3}
        neg = self._any(rng, lambda j: j != i and words & set(self.f.bare[j].lower().split()))
        return Query("misspelled_title", text, i, self._negs(neg))

    def _conditions(self, i) -> list[str]:
        f, cut, out = self.f, self.cut, []
        if "recent" in cut and f.has_year(i):
            if f.year[i] >= cut["recent"]:
                out.append("recent")
            if f.year[i] <= cut["classic"]:
                out.append("classic")
        if f.popularity[i] >= cut["popular"]:
            out.append("popular")
        if "acclaimed" in cut and not np.isnan(f.rating[i]) and f.rating[i] >= cut["acclaimed"] and f.popularity[i] >= 10:
            out.append("acclaimed")
        if "cheap" in cut and not np.isnan(f.price[i]) and f.price[i] <= cut["cheap"]:
            out.append("cheap")
        return out

    def vague_condition(self, rng, i):
        conds = self._conditions(i)
        if not conds or not self.f.cats[i]:
            return None
        cond, genre = rng.choice(conds), rng.choice(self.f.cats[i])
        word = rng.choice(T.CONDITIONS[cond])
        # Era-free conditions (popular, acclaimed, cheap) get the decade as well.
        era = f" from the {self.f.decade(i)}s" if cond not in ("recent", "classic") and self.f.has_year(i) else ""
        neg = self._pick(rng, self.f.by_cat[genre], lambda j: cond not in self._conditions(j))
        article = "an" if word[0] in "aeiou" else "a"
        text = rng.choice(T.VAGUE_CONDITION).format(condition=word, a_condition=f"{article} {word}", genre=genre,
                                                    era=era)
        return Query("vague_condition", text, i, self._negs(neg))

    def negative_attributes(self, rng, i):
        f = self.f
        if not f.cats[i]:
            return None
        genre = rng.choice(f.cats[i])
        # The excluded genre is one that often comes with this one, so the negation matters.
        company = Counter(c for j in f.by_cat[genre][:2000] for c in f.cats[j] if c != genre and c not in f.cats[i])
        if not company:
            return None
        excluded = rng.choice([c for c, _ in company.most_common(3)])
        neg = self._pick(rng, f.by_cat[genre], lambda j: excluded in f.cats[j])
        era = f" from the {f.decade(i)}s" if f.has_year(i) else ""
        text = rng.choice(T.NEGATIVE_ATTRIBUTES).format(genre=genre, excluded=excluded, era=era)
        return Query("negative_attributes", text, i, self._negs(neg))


def misspell(title: str, rng: random.Random) -> str:
    """A title as people type it: lower case, a typo or two, sometimes a word dropped."""
    words = title.split()
    if len(words) > 1 and words[-1] in ("The", "A", "An") and words[-2].endswith(","):
        words = [words[-1]] + words[:-1]
        words[-1] = words[-1].rstrip(",")  # "Matrix, The" → "The Matrix"
    if len(words) > 2 and rng.random() < 0.3:
        del words[rng.randrange(len(words))]
    chars = list(" ".join(words).lower() if rng.random() < 0.7 else " ".join(words))
    for _ in range(rng.randint(1, 2)):
        if len(chars) < 4:
            break
        k = rng.randrange(1, len(chars) - 1)
        op = rng.random()
        if op < 0.35:
            chars[k], chars[k + 1] = chars[k + 1], chars[k]  # swap
        elif op < 0.65:
            del chars[k]  # drop
        else:
            chars[k] = rng.choice("abcdefghijklmnopqrstuvwxyz")  # replace
    return "".join(chars)


def build_tasks(catalog, interactions, n_train: int = 2000, n_test: int = 200, seed: int = 0,
                test_share: float = 0.1, tasks=TASKS, paraphrase=None) -> TaskSplit:
    """Train and test queries for each task (up to n_train / n_test each).

    test_share: share of items (with at least one interaction) and of users held out for testing.
    paraphrase: optional fn(text) -> text (e.g. an LLM rewrite), applied to every query.
    Raises DataError for an empty catalog or interactions, or an unknown task name.
    """
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise DataError(f"unknown RecLM-emb tasks {unknown}; known: {', '.join(TASKS)}")
    if len(catalog) == 0 or len(interactions) == 0:
        raise DataError("RecLM-emb tasks need a non-empty catalog and interactions")
    rng = random.Random(seed)
    facts = Facts(catalog, interactions)
    seen = [i for i in range(facts.n) if facts.popularity[i] > 0]
    test_items = set(rng.sample(seen, max(1, int(len(seen) * test_share))))
    users = [u for u in range(interactions.n_users) if interactions.lengths()[u] >= 5]
    test_users = set(rng.sample(users, max(1, int(len(users) * test_share)))) if users else set()
    neighbours = cooccurrence_neighbours(interactions, facts.n)
    split = TaskSplit([], [], test_items, test_users)
    train_items = [i for i in range(facts.n) if i not in test_items]
    # Train and test queries draw from their own generators: the test set depends only on
    # (seed, test_share, n_test), so an evaluation can rebuild it without the training settings.
    for part, count, allowed, part_rng in (("train", n_train, set(train_items), random.Random(seed * 2 + 1)),
                                           ("test", n_test, set(range(facts.n)), random.Random(seed * 2 + 2))):
        gens = _Generators(facts, interactions, neighbours, allowed)
        for name in tasks:
            if name in USER_TASKS:
                pool = [u for u in users if (u in test_users) == (part == "test")]
            else:
                pool = sorted(test_items) if part == "test" else [i for i in train_items if facts.popularity[i] > 0]
            if name not in USER_TASKS:
                # People ask for items others use: targets are drawn with weight sqrt(interactions).
                pool = _weighted_order(pool, np.sqrt(facts.popularity[pool]), part_rng)
            # Users are few: each may give several queries (other positions of their history).
            queries = _draw(getattr(gens, name), pool, count, part_rng, rounds=5 if name in USER_TASKS else 1,
                            shuffle=name in USER_TASKS)
            if paraphrase is not None:
                for q in queries:
                    q.text = paraphrase(q.text)
            getattr(split, part).extend(queries)
            if not queries and count:
                split.skipped[name] = f"no {part} query could be built (missing attributes or history)"
    return split


def _weighted_order(pool: list[int], weights: np.ndarray, rng: random.Random) -> list[int]:
    """The pool in a random order where heavier members tend to come first (weighted sampling
    without replacement: sort by u ** (1 / w), u uniform)."""
    keys = [rng.random() ** (1.0 / w) if w > 0 else 0.0 for w in weights]
    return [x for _, x in sorted(zip(keys, pool), reverse=True)]


def _draw(gen, pool: list[int], count: int, rng: random.Random, rounds: int = 1, shuffle: bool = True
          ) -> list[Query]:
    """Up to `count` queries from pool members (shuffled, or in the given order), each used at most `rounds` times."""
    out, seen = [], set()
    for _ in range(rounds):
        for x in (rng.sample(pool, len(pool)) if shuffle else pool):
            if len(out) == count:
                return out
            q = gen(rng, x)
            if q is not None and (q.text, q.target) not in seen:
                seen.add((q.text, q.target))
                out.append(q)
    return out
