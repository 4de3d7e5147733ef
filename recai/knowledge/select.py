"""Choosing the facts that fit: the best of each kind in turn, within a token budget.

Scores are comparable only within a kind (a co-occurrence cosine and a teacher rank are different
scales), so the kinds take turns: the best fact of each kind, then the second best of each, and so
on, skipping a fact about a candidate that already has `per_item` facts of that kind while other
candidates still have some (so the knowledge covers the candidate set instead of one item).
Facts are added while the rendered block stays within the budget; the block is counted as a whole
at the end, because a tokenizer's count of joined lines can differ from the sum of its lines.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from recai.knowledge.facts import HEADINGS, KINDS, Fact, TokenCounter


def render(facts: list[Fact], notes: list[str] = ()) -> str:
    """The knowledge block: one heading per kind present (in KINDS order), a "- " line per fact,
    then any notes ("no knowledge-graph path was found ...")."""
    lines = []
    for kind in KINDS:
        mine = [f for f in facts if f.kind == kind]
        if mine:
            lines.append(f"{HEADINGS[kind]}:")
            lines += [f"- {f.text}" for f in mine]
    lines += [f"({n})" for n in notes]
    return "\n".join(lines)


def turn_order(facts: list[Fact], per_item: int = 2) -> list[Fact]:
    """All facts in the order they are offered to the budget (see the module doc)."""
    by_kind: dict[str, list[Fact]] = defaultdict(list)
    for f in sorted(facts, key=lambda f: -f.score):
        by_kind[f.kind].append(f)
    queues = []
    for kind in KINDS:
        first, later, used = [], [], defaultdict(int)
        for f in by_kind.get(kind, []):
            if f.item is None or used[f.item] < per_item:
                used[f.item] += 1
                first.append(f)
            else:
                later.append(f)
        queues.append(first + later)
    out, depth = [], 0
    while any(depth < len(q) for q in queues):
        out += [q[depth] for q in queues if depth < len(q)]
        depth += 1
    return out


@dataclass
class Selection:
    facts: list[Fact] = field(default_factory=list)  # chosen, in the order they were offered
    notes: list[str] = field(default_factory=list)  # the notes that fit
    tokens: int = 0  # the rendered block's count
    offered: int = 0  # facts there were to choose from

    @property
    def text(self) -> str:
        return render(self.facts, self.notes)


def select(facts: list[Fact], budget: int, count: TokenCounter, notes: list[str] = (),
           per_item: int = 2) -> Selection:
    """The facts (and notes) that fit in `budget` tokens; `tokens` never exceeds the budget.
    Notes go in first (they say what is missing), facts fill the rest in turn order."""
    if budget < 0:
        raise ValueError(f"budget must be >= 0 tokens, got {budget}")
    notes = [n for n in notes if count(render([], [n])) <= budget]
    chosen: list[Fact] = []
    spent = count(render([], notes)) + (1 if notes else 0)  # the newline that joins notes to facts
    headed: set[str] = set()
    for f in turn_order(facts, per_item):
        cost = count(f"- {f.text}\n") + (0 if f.kind in headed else count(f"{HEADINGS[f.kind]}:\n"))
        if spent + cost <= budget:
            chosen.append(f)
            headed.add(f.kind)
            spent += cost
    # Per-line counts are an estimate of the whole: drop the lowest-ranked facts until it fits.
    total = count(render(chosen, notes))
    while total > budget and chosen:
        chosen.pop()
        total = count(render(chosen, notes))
    while total > budget and notes:
        notes = notes[:-1]
        total = count(render(chosen, notes))
    return Selection(chosen, notes, total, len(facts))
