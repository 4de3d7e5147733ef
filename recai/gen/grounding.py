"""Grounding generated recommendations: find the item names in a model's text and map them to the catalog.

Names are found by `recai.text.names` (list lines, quoted titles or an inline run, decoration
removed); the fuzzy matcher maps each to an item, and every name gets one status:

    ok          a catalog item, new in this list, not in the user's history, within the count
    invalid     no catalog item matches (an invented or garbled title)
    repeat      an item already written earlier in the same list
    in_history  an item the user already has
    over_count  a valid new item beyond the requested count
"""
from __future__ import annotations

from dataclasses import dataclass, field

from recai.text.names import find_names

STATUSES = ("ok", "invalid", "repeat", "in_history", "over_count")


@dataclass
class GroundedItem:
    name: str  # as the model wrote it, decoration removed
    index: int | None  # catalog index, None when invalid
    status: str  # one of STATUSES
    score: float = 0.0  # the matcher's score (0 for invalid)
    title: str | None = None  # the catalog title
    end: int = 0  # character offset in the text where the name ends (rewards go on that token)


@dataclass
class Grounding:
    items: list[GroundedItem] = field(default_factory=list)
    is_list: bool = False  # the reply was a numbered or bulleted list

    @property
    def valid(self) -> list[int]:
        """Catalog indices of the items with status ok, in order."""
        return [g.index for g in self.items if g.status == "ok"]

    def count(self, status: str) -> int:
        return sum(g.status == status for g in self.items)

    def rate(self, status: str) -> float:
        """Share of written names with `status` (0 for an empty reply)."""
        return self.count(status) / len(self.items) if self.items else 0.0


def ground(text: str, matcher, history=(), count: int | None = None, threshold: float | None = None) -> Grounding:
    """Parse `text` and give each name a catalog item and a status (see the module doc).

    matcher: a `recai.text.fuzzy.TitleMatcher` over the catalog titles; history: catalog indices
    the user already has; count: the number of items requested (None: no limit).
    """
    found, is_list = find_names(text)
    kwargs = {} if threshold is None else {"threshold": threshold}
    matches = matcher.match_many([name for name, _ in found], **kwargs) if found else []
    known, seen = {int(i) for i in history}, set()
    out, ok = [], 0
    for (name, end), m in zip(found, matches):
        if m is None:
            out.append(GroundedItem(name, None, "invalid", end=end))
            continue
        if m.index in seen:
            status = "repeat"
        elif m.index in known:
            status = "in_history"
        elif count is not None and ok >= count:
            status = "over_count"
        else:
            status = "ok"
            ok += 1
        seen.add(m.index)
        out.append(GroundedItem(name, m.index, status, m.score, m.title, end))
    return Grounding(out, is_list)
