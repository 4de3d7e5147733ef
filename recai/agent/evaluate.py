"""Planner accuracy: does a plan use the gold tool sequence with the same key arguments?

Arguments are compared by what they do, not by their spelling: two hard filters match when they
select the same items, two look-ups when they return the same rows, candidate lists and seed
items when they resolve to the same catalog items, rank steps when mode and diversity agree, and
free-text soft filters when their content words mostly agree (Jaccard >= 0.5).
"""
from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field

from recai.agent.sql_snap import SqlSnapper
from recai.agent.tools import resolve_titles
from recai.errors import QueryError


@dataclass
class PlannerScore:
    exact: int = 0  # plans equal step for step, text included
    correct: int = 0  # same tools, same key arguments
    total: int = 0
    by_intent: Counter = field(default_factory=Counter)  # intent -> correct
    per_intent: Counter = field(default_factory=Counter)  # intent -> total
    seconds: list = field(default_factory=list)
    failures: list = field(default_factory=list)  # (request, gold, got) for the first few misses

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.total, 1)


class PlanJudge:
    def __init__(self, domain):
        self.domain = domain
        self.snapper = SqlSnapper(domain.catalog, domain.matcher)

    def same(self, gold, got) -> bool:
        if [s.tool for s in gold] != [s.tool for s in got]:
            return False
        return all(self._same_step(a.tool, a.input, b.input) for a, b in zip(gold, got))

    def _same_step(self, tool: str, a: str, b: str) -> bool:
        if a == b:
            return True
        if tool == "hard_filter":
            return self._rows(f"SELECT idx FROM items WHERE {a}") == self._rows(f"SELECT idx FROM items WHERE {b}")
        if tool == "lookup":
            ra, rb = self._rows(a), self._rows(b)
            return ra is not None and ra == rb
        if tool == "candidates":
            return set(resolve_titles(a, self.domain)[0]) == set(resolve_titles(b, self.domain)[0])
        if tool == "soft_filter":
            like_a, like_b = a.lower().startswith("like:"), b.lower().startswith("like:")
            if like_a and like_b:
                return set(resolve_titles(a[5:], self.domain)[0]) == set(resolve_titles(b[5:], self.domain)[0])
            if like_a or like_b:
                return False
            wa, wb = _words(a), _words(b)
            return bool(wa | wb) and len(wa & wb) / len(wa | wb) >= 0.5
        if tool == "rank":
            return _rank_key(a) == _rank_key(b)
        return False

    def _rows(self, sql: str):
        try:
            sql, _ = self.snapper.snap(sql)
            return frozenset(self.domain.catalog.query(sql, max_rows=self.domain.n_items).rows)
        except QueryError:
            return None


def score_planner(planner, examples, domain, keep_failures: int = 10, progress=None) -> PlannerScore:
    """Run planner.plan on every example and judge it against the gold plan."""
    judge, s = PlanJudge(domain), PlannerScore()
    for n, ex in enumerate(examples):
        start = time.monotonic()
        steps, error = [], None
        try:
            steps = planner.plan(ex.request)
        except ValueError as e:  # a plan that does not parse counts as wrong
            error = e
        s.seconds.append(time.monotonic() - start)
        s.total += 1
        s.per_intent[ex.intent] += 1
        if steps == ex.plan:
            s.exact += 1
        if steps and judge.same(ex.plan, steps):
            s.correct += 1
            s.by_intent[ex.intent] += 1
        elif len(s.failures) < keep_failures:
            s.failures.append((ex.request, ex.plan, steps or str(error)))
        if progress is not None:
            progress(n + 1, len(examples), s)
    return s


_IGNORED = {"a", "an", "the", "about", "movie", "movies", "film", "films", "with", "and", "of", "story"}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _IGNORED}


def _rank_key(text: str) -> tuple[str, bool]:
    words = set(re.findall(r"[a-z]+", text.lower()))
    mode = next((m for m in ("preference", "popularity", "similarity") if m in words), "preference")
    return mode, "diversity" in words
