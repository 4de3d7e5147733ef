"""Reading a ranking back from a model's reply: a JSON array, else a numbered or bulleted list
(or inline names), each entry mapped to a candidate by the fuzzy matcher.

JSON entries may be titles or 1-based candidate numbers. Names that match no candidate are
ignored, repeats keep their first place. A reply that yields no candidate at all is a parse
failure; the ranking then keeps the prompt's (shuffled) candidate order, so a failure scores like a
random guess rather than crashing the run.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from recai.text.fuzzy import TitleMatcher
from recai.text.names import clean_name, find_names

_ARRAY = re.compile(r"\[[^\[\]]*\]", re.S)


@dataclass
class ParsedRanking:
    order: list[int]  # positions into the candidate list, best first, every candidate once
    listed: int  # how many came from the reply (the rest follow in prompt order)

    @property
    def failed(self) -> bool:
        return self.listed == 0


def _json_entries(text: str) -> list | None:
    for m in _ARRAY.finditer(text):
        try:
            value = json.loads(m.group())
        except ValueError:
            continue
        if isinstance(value, list) and value:
            return value
    return None


def parse_ranking(text: str, titles: list[str]) -> ParsedRanking:
    """The ranking `text` gives over the candidates `titles` (in prompt order)."""
    if not titles:
        return ParsedRanking([], 0)
    entries = _json_entries(text)
    names: list[str] = []
    numbers: dict[int, int] = {}  # entry position -> candidate position, for numeric JSON entries
    if entries is not None:
        for n, e in enumerate(entries):
            if isinstance(e, int) and not isinstance(e, bool) and 1 <= e <= len(titles):
                numbers[n] = e - 1
            names.append(clean_name(str(e)) if isinstance(e, str) else "")
    else:
        names = [name for name, _ in find_names(text)[0]]
    matches = TitleMatcher(titles).match_many(names) if any(names) else [None] * len(names)
    order, seen = [], set()
    for n, m in enumerate(matches):
        pos = numbers.get(n, m.index if m is not None else None)
        if pos is not None and pos not in seen:
            seen.add(pos)
            order.append(pos)
    listed = len(order)
    return ParsedRanking(order + [p for p in range(len(titles)) if p not in seen], listed)
