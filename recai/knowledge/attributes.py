"""Item attributes as facts: genres, year, tags, average rating, from the catalog's own columns.

A candidate's fact scores by how well its genres match the user's history (the mean share of
history items that carry each of its genres), so when the budget is short the candidates that look
like the user's taste are described first. Without a history every candidate scores 0 and keeps
its list order.
"""
from __future__ import annotations

from collections import Counter

from recai.knowledge.facts import Fact

GENRE_FIELDS = ("genres", "categories", "tags")


class AttributeFacts:
    """Facts from catalog columns. `fields`: which columns to describe (default: the genre-like
    list columns, year, average rating and tags the catalog has)."""

    def __init__(self, catalog, fields: tuple[str, ...] | None = None, max_tags: int = 3):
        schema = catalog.schema
        self.fields = tuple(f for f in (fields or ("genres", "categories", "tags", "avg_rating")) if f in schema)
        unknown = [f for f in (fields or ()) if f not in schema]
        if unknown:
            raise KeyError(f"unknown catalog attributes {unknown}; the catalog has {list(schema)}")
        self.catalog, self.max_tags = catalog, max_tags
        self.titles = catalog.display_titles()
        genre = next((f for f in GENRE_FIELDS[:2] if f in schema), None)
        self._genres = [list(g or []) for g in catalog.values(genre)] if genre else None

    def sentence(self, index: int) -> str:
        item = self.catalog.item(index)
        parts = []
        for f in self.fields:
            value = item.get(f)
            if not value:
                continue
            if f == "tags":
                parts.append("tagged " + ", ".join(map(str, value[:self.max_tags])))
            elif f == "avg_rating":
                parts.append(f"rated {float(value):.1f}/5 on average")
            elif isinstance(value, list):
                parts.append(", ".join(str(v) for v in value if v != "(no genres listed)"))
            else:
                parts.append(f"{f.replace('_', ' ')} {value}")
        parts = [p for p in parts if p]
        return f"{self.titles[index]}: {'; '.join(parts)}." if parts else ""

    def taste_match(self, history: list[int], index: int) -> float:
        if not self._genres or not history or not self._genres[index]:
            return 0.0
        seen = Counter(g for h in history for g in set(self._genres[h]))
        return sum(seen[g] for g in self._genres[index]) / (len(history) * len(self._genres[index]))

    def facts(self, history: list[int], candidates: list[int]) -> list[Fact]:
        history, out = [int(h) for h in history], []
        for c in map(int, candidates):
            text = self.sentence(c)
            if text:
                out.append(Fact("attributes", text, self.taste_match(history, c), c))
        return out
