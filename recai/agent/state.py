"""The agent's state between tool calls and turns: the candidate bus and the user profile."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CandidateBus:
    """The items the current plan is working on, shared by every tool of one turn.

    items None means "the whole catalog, in no order"; otherwise catalog indices, best first when
    `ranked`. Filters narrow it, rankers order it, `map` reads its head.
    """

    n_items: int
    items: list[int] | None = None
    ranked: bool = False

    def pool(self) -> list[int]:
        return list(range(self.n_items)) if self.items is None else list(self.items)

    def set(self, items, ranked: bool) -> None:
        self.items, self.ranked = [int(i) for i in items], ranked

    def __len__(self) -> int:
        return self.n_items if self.items is None else len(self.items)

    def describe(self) -> str:
        if self.items is None:
            return f"all {self.n_items} items"
        return f"{len(self.items)} items{' ranked' if self.ranked else ''}"


@dataclass
class UserProfile:
    """What the user said they like and dislike, kept across turns (catalog indices and category values).

    Ranking reads it: liked items are the history SASRec scores from; disliked items and categories
    are never recommended; liked categories break ties.
    """

    liked_items: list[int] = field(default_factory=list)
    disliked_items: list[int] = field(default_factory=list)
    liked_categories: list[str] = field(default_factory=list)
    disliked_categories: list[str] = field(default_factory=list)

    def like_item(self, idx: int) -> None:
        _move(self.disliked_items, self.liked_items, idx)

    def dislike_item(self, idx: int) -> None:
        _move(self.liked_items, self.disliked_items, idx)

    def like_category(self, value: str) -> None:
        _move(self.disliked_categories, self.liked_categories, value)

    def dislike_category(self, value: str) -> None:
        _move(self.liked_categories, self.disliked_categories, value)

    def is_empty(self) -> bool:
        return not (self.liked_items or self.disliked_items or self.liked_categories or self.disliked_categories)

    def to_text(self, titles) -> str:
        """One line per non-empty field, item indices shown as titles (for prompts and the trace)."""
        parts = []
        if self.liked_items:
            parts.append("likes: " + "; ".join(titles[i] for i in self.liked_items))
        if self.disliked_items:
            parts.append("dislikes: " + "; ".join(titles[i] for i in self.disliked_items))
        if self.liked_categories:
            parts.append("likes categories: " + ", ".join(self.liked_categories))
        if self.disliked_categories:
            parts.append("avoids categories: " + ", ".join(self.disliked_categories))
        return "\n".join(parts) or "nothing known yet"

    def to_dict(self, titles) -> dict:
        return {"liked_items": [titles[i] for i in self.liked_items],
                "disliked_items": [titles[i] for i in self.disliked_items],
                "liked_categories": list(self.liked_categories),
                "disliked_categories": list(self.disliked_categories)}


def _move(source: list, dest: list, value) -> None:
    """Put value at the end of dest (once) and take it out of source: the latest statement wins."""
    if value in source:
        source.remove(value)
    if value in dest:
        dest.remove(value)
    dest.append(value)
