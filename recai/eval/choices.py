"""Multiple-choice answers (A–J) read from free text: a letter, else a title, else a fuzzy match.

    1. letter   the reply is one ("B", "(C)") or starts with one and a mark ("D. Heat", "E) ..."),
                or says "answer: F", "answer is G", "option H"; the article of "A film ..." is not
                taken for a letter
    2. title    a candidate's cleaned title, with its year and then without, appears in the cleaned
                reply as whole words (longest titles first, so "Aliens" wins over "Alien")
    3. fuzzy    the names the reply writes, matched to the candidates by `recai.text.fuzzy`
None when all three fail: the evaluator counts it in the none-ratio, and as wrong.
"""
from __future__ import annotations

import re
import string
from typing import Sequence

from recai.eval.titles import clean
from recai.text.fuzzy import TitleMatcher
from recai.text.names import find_names

LETTERS = string.ascii_uppercase[:10]
_LEAD = re.compile(r"^\W*\(?([A-J])(?:[).:\]]|\s*$)")  # "B", "(C)", "D. ...", "E) ..."
_SAID = re.compile(r"\b(?:answer(?:\s+is)?|option|choice)\s*[:\-]?\s*\(?([A-J])\b", re.I)


def parse_choice(reply: str, candidates: Sequence[str]) -> str | None:
    """The letter (A..) of the candidate the reply picks, or None."""
    if not candidates:
        return None
    valid = LETTERS[:len(candidates)]
    text = str(reply or "").strip()
    for m in (_LEAD.match(text), _SAID.search(text)):
        if m and m.group(1).upper() in valid:
            return m.group(1).upper()
    cleaned = f" {clean(text)} "
    for strip_year in (False, True):  # "Alien (1979)", then "Alien"
        titles = [clean(re.sub(r"\(\d{4}\)\s*$", "", c) if strip_year else c) for c in candidates]
        for i in sorted(range(len(titles)), key=lambda i: -len(titles[i])):
            if titles[i] and f" {titles[i]} " in cleaned:
                return valid[i]
    names = [n for n, _ in find_names(text)[0]] or [text]
    try:
        matcher = TitleMatcher(list(candidates))
    except ValueError:  # candidates without a single letter or digit
        return None
    for m in matcher.match_many(names[:5]):
        if m is not None:
            return valid[m.index]
    return None
