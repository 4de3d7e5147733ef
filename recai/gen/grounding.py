"""Grounding generated recommendations: find the item names in a model's text and map them to the catalog.

A reply is read as a list when it has numbered ("1. X", "2) X") or bulleted ("- X", "* X", "• X")
lines; otherwise as inline names: quoted titles, or a comma / "and" separated run after a colon
("Try these: Heat, Casino and Goodfellas"). Each name loses decoration the model adds around
it (markdown emphasis, a trailing " - why you'd like it", a "by Director") before the fuzzy
matcher maps it to an item. Every name gets one status:

    ok          a catalog item, new in this list, not in the user's history, within the count
    invalid     no catalog item matches (an invented or garbled title)
    repeat      an item already written earlier in the same list
    in_history  an item the user already has
    over_count  a valid new item beyond the requested count
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

STATUSES = ("ok", "invalid", "repeat", "in_history", "over_count")

_NUMBERED = re.compile(r"^\s*(?:\d{1,3}\s*[.)\]:]|#\d{1,3}\.?)\s+(?P<name>\S.*)$")
_BULLETED = re.compile(r"^\s*[-*•·]\s+(?P<name>\S.*)$")
_QUOTED = re.compile(r"[\"“”«](?P<name>[^\"“”«»\n]{2,120})[\"“”»]")
# What follows a title on its line: an explanation after a dash or colon, or a credit.
_TRAILER = re.compile(r"\s+(?:[-–—:|]\s|\bby\s+[A-Z]|\bdirected\b|\bstarring\b).*$")


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


def clean_name(raw: str) -> str:
    """A written name without list decoration: markdown, a trailing explanation, quotes, end punctuation."""
    name = re.sub(r"[*_`]+", "", raw).strip()
    name = _TRAILER.sub("", name)
    name = name.strip(" \t\"'“”«»,;.")
    return name


def parse_names(text: str) -> tuple[list[str], bool]:
    """The item names in `text`, in order, and whether they came from a list."""
    found, is_list = _find_names(text)
    return [name for name, _ in found], is_list


def _find_names(text: str) -> tuple[list[tuple[str, int]], bool]:
    """(name, end offset) pairs in order, and whether they came from a list (see the module doc)."""
    listed, offset = [], 0
    for line in text.splitlines(keepends=True):
        m = _NUMBERED.match(line.rstrip("\r\n")) or _BULLETED.match(line.rstrip("\r\n"))
        if m:
            name = clean_name(m.group("name"))
            if name:
                listed.append((name, offset + len(line.rstrip("\r\n"))))
        offset += len(line)
    if listed:
        return listed, True
    quoted = [(clean_name(m.group("name")), m.end()) for m in _QUOTED.finditer(text)]
    quoted = [q for q in quoted if q[0]]
    if quoted:
        return quoted, False
    inline = None
    for inline in re.finditer(r":\s*(?P<run>[^:\n]+)", text):
        pass  # the last colon-led run: "Sure! Here you go: A, B and C"
    if inline is None:
        return [], False
    out, start = [], inline.start("run")
    for part in re.finditer(r"[^,;]+", inline.group("run")):
        for piece in re.finditer(r"(?:(?!\s+(?:and|or)\s+).)+", part.group()):
            name = clean_name(re.sub(r"^(?:and|or)\s+", "", piece.group().strip()))
            if name:
                out.append((name, start + part.start() + piece.end()))
    return out, False


def ground(text: str, matcher, history=(), count: int | None = None, threshold: float | None = None) -> Grounding:
    """Parse `text` and give each name a catalog item and a status (see the module doc).

    matcher: a `recai.text.fuzzy.TitleMatcher` over the catalog titles; history: catalog indices
    the user already has; count: the number of items requested (None: no limit).
    """
    found, is_list = _find_names(text)
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
