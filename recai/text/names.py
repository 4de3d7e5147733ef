"""Item names in a language model's reply: list lines, quoted titles or an inline run.

A reply is read as a list when it has numbered ("1. X", "2) X") or bulleted ("- X", "* X", "• X")
lines; otherwise as inline names: quoted titles, or a comma / "and" separated run after a colon
("Try these: Heat, Casino and Goodfellas"). Each name loses the decoration models add around it
(markdown emphasis, a trailing " - why you'd like it", a "by Director"). Knows nothing of any
catalog: mapping names to items is the fuzzy matcher's job.
"""
from __future__ import annotations

import re

_NUMBERED = re.compile(r"^\s*(?:\d{1,3}\s*[.)\]:]|#\d{1,3}\.?)\s+(?P<name>\S.*)$")
_BULLETED = re.compile(r"^\s*[-*•·]\s+(?P<name>\S.*)$")
_QUOTED = re.compile(r"[\"“”«](?P<name>[^\"“”«»\n]{2,120})[\"“”»]")
# What follows a title on its line: an explanation after a dash or colon, or a credit.
_TRAILER = re.compile(r"\s+(?:[-–—:|]\s|\bby\s+[A-Z]|\bdirected\b|\bstarring\b).*$")


def clean_name(raw: str) -> str:
    """A written name without list decoration: markdown, a trailing explanation, quotes, end punctuation."""
    name = re.sub(r"[*_`]+", "", raw).strip()
    name = _TRAILER.sub("", name)
    name = name.strip(" \t\"'“”«»,;.")
    return name


def parse_names(text: str) -> tuple[list[str], bool]:
    """The item names in `text`, in order, and whether they came from a list."""
    found, is_list = find_names(text)
    return [name for name, _ in found], is_list


def find_names(text: str) -> tuple[list[tuple[str, int]], bool]:
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
