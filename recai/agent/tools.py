"""InteRecAgent's tools over the candidate bus. Each takes one text input and returns an observation.

The docstring of each tool's `run` is what the planner prompt shows, so it says what the input is.
Tools never raise for a bad input from a model: they return an observation starting with "error:",
which lands in the trace and in the answer prompt, and the plan goes on.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from recai.agent.sql_snap import SqlSnapper
from recai.agent.state import CandidateBus, UserProfile
from recai.errors import QueryError

MAX_INPUT_CHARS = 1000  # a tool input longer than this is a model run wild; it is cut, and the trace says so
SOFT_FILTER_KEEP = 50  # items the soft filter keeps, best first
LOOKUP_ROWS = 20


@dataclass
class ToolContext:
    domain: object  # recai.agent.domain.Domain
    profile: UserProfile
    snapper: SqlSnapper
    history: list[int]  # the user's own past items (catalog indices), oldest first; may be empty


class Tool(Protocol):
    """A tool: a name, and `run` whose docstring is the line the planner prompt shows."""
    name: str

    def run(self, bus: CandidateBus, text: str, ctx: ToolContext) -> str: ...


class CandidateStore:
    name = "candidates"

    def run(self, bus, text, ctx):
        """Items the user names as the candidates to choose from. Input: titles separated by ';'."""
        found, missing = resolve_titles(text, ctx.domain)
        if not found:
            return f"error: no catalog item matches {text!r}"
        bus.set(found, ranked=False)
        note = f"; not found: {', '.join(missing)}" if missing else ""
        return f"{len(found)} candidates: " + "; ".join(ctx.domain.catalog.titles[i] for i in found) + note


class LookUp:
    name = "lookup"

    def run(self, bus, text, ctx):
        """Answers questions about items with one SQL SELECT over the catalog tables (read-only)."""
        sql, changes = ctx.snapper.snap(text)
        try:
            result = ctx.domain.catalog.query(sql, max_rows=LOOKUP_ROWS)
        except QueryError as e:
            return f"error: {e}"
        lines = [" | ".join(result.columns)] + [" | ".join(_cell(v) for v in row) for row in result.rows]
        if not result.rows:
            lines.append("(no rows)")
        if result.truncated:
            lines.append(f"(first {LOOKUP_ROWS} rows shown)")
        return _with_changes("\n".join(lines), changes)


class HardFilter:
    name = "hard_filter"

    def run(self, bus, text, ctx):
        """Keeps the candidates that satisfy an SQL condition on the items table, e.g.
        genres LIKE '%Comedy%' AND year >= 2000."""
        condition, changes = ctx.snapper.snap(text)
        sql = f"SELECT idx FROM items WHERE {condition}"
        try:
            result = ctx.domain.catalog.query(sql, max_rows=ctx.domain.n_items)
        except QueryError as e:
            return f"error: {e}"
        keep = {int(row[0]) for row in result.rows}
        before = len(bus)
        bus.set([i for i in bus.pool() if i in keep], ranked=bus.ranked)
        return _with_changes(f"{before} -> {len(bus)} candidates where {condition}", changes)


class SoftFilter:
    name = "soft_filter"

    def run(self, bus, text, ctx):
        """Keeps the candidates closest in meaning to a description (input: free text), or to seed
        items (input: 'like: title; title')."""
        domain = ctx.domain
        if domain.index is None or domain.embedder is None:
            return "error: the soft filter needs an item index (build the domain with an embedder)"
        if text.lower().startswith("like:"):
            seeds, missing = resolve_titles(text[5:], domain)
            if not seeds:
                return f"error: no catalog item matches {text[5:].strip()!r}"
            query = domain.index.vectors[seeds].float().mean(0)
            exclude = set(seeds)
        else:
            query = domain.embedder.encode([text])[0]
            exclude, missing = set(), []
        pool = [i for i in bus.pool() if i not in exclude]
        if not pool:
            return "error: no candidates left to filter"
        allowed = torch.zeros(domain.n_items, dtype=torch.bool)
        allowed[pool] = True
        hits = domain.index.search(query, k=min(SOFT_FILTER_KEEP, len(pool)), allowed=allowed)
        bus.set([r for r in hits.indices[0].tolist() if r >= 0], ranked=True)
        note = f"; not found: {', '.join(missing)}" if missing else ""
        return f"{len(bus)} candidates closest to {text!r}, best first{note}"


class Rank:
    name = "rank"

    def run(self, bus, text, ctx):
        """Orders the candidates. Input: 'preference' (the user's history and likes, via SASRec),
        'popularity' or 'similarity' (keep the soft filter's order); add ', diversity' to vary categories."""
        words = {w.strip() for w in text.lower().replace(",", " ").split()}
        mode = next((m for m in ("preference", "popularity", "similarity") if m in words), "preference")
        domain = ctx.domain
        seen = set(ctx.history) | set(ctx.profile.liked_items) | set(ctx.profile.disliked_items)
        pool = [i for i in bus.pool() if i not in seen and not _avoided(i, ctx)]
        if not pool:
            bus.set([], ranked=True)
            return "error: no candidates left after removing items the user knows or avoids"
        scores, used = self._scores(mode, pool, bus, ctx)
        order = sorted(range(len(pool)), key=lambda j: (-scores[j], pool[j]))
        ranked = [pool[j] for j in order]
        if "diversity" in words:
            ranked = diversify(ranked, domain)
        bus.set(ranked, ranked=True)
        return f"{len(ranked)} candidates ranked by {used}{', diversified' if 'diversity' in words else ''}"

    def _scores(self, mode, pool, bus, ctx) -> tuple[list[float], str]:
        domain = ctx.domain
        liked = set(ctx.profile.liked_categories)
        bonus = [0.01 * len(liked & set(domain.item_categories[i])) for i in pool]  # a tie-breaker, not a driver
        if mode == "similarity" and bus.ranked:
            n = len(pool)
            return [n - j + b for j, b in enumerate(bonus)], "similarity"
        history = list(ctx.history) + list(ctx.profile.liked_items)
        if mode in ("preference", "similarity") and history and domain.ranker is not None:
            s = domain.ranker.score(histories=[history])[0]
            return [float(s[i]) + b for i, b in zip(pool, bonus)], "preference (SASRec over the user's items)"
        pop = domain.popularity
        used = "popularity" if mode == "popularity" else "popularity (no history yet)"
        return [float(pop[i]) + b for i, b in zip(pool, bonus)], used


class MapItems:
    name = "map"

    def run(self, bus, text, ctx):
        """Shows the best candidates with their attributes. Input: how many (default 5)."""
        k = int(text) if text.strip().isdigit() else 5
        k = max(1, min(k, 20))
        if not bus.ranked:  # unranked candidates are shown most popular first
            pool = bus.pool()
            bus.set(sorted(pool, key=lambda i: (-float(ctx.domain.popularity[i]), i)), ranked=True)
        head = bus.pool()[:k]
        if not head:
            return "no items to show"
        return "\n".join(f"{n + 1}. {describe_item(i, ctx.domain)}" for n, i in enumerate(head))


TOOLS: dict[str, Tool] = {t.name: t for t in (CandidateStore(), LookUp(), HardFilter(), SoftFilter(), Rank(), MapItems())}


def tool_help() -> str:
    """One line per tool, for the planner prompt."""
    return "\n".join(f"- {name}: {' '.join((type(tool).run.__doc__ or '').split())}" for name, tool in TOOLS.items())


# ---- helpers the tools share -------------------------------------------------------------------
def resolve_titles(text: str, domain) -> tuple[list[int], list[str]]:
    """Catalog indices of the ';'-separated titles in text (fuzzy), and the names that matched nothing."""
    names = [n.strip() for n in text.replace("\n", ";").split(";") if n.strip()]
    found, missing = [], []
    for name, match in zip(names, domain.matcher.match_many(names) if names else []):
        if match is None:
            missing.append(name)
        elif match.index not in found:
            found.append(match.index)
    return found, missing


def describe_item(i: int, domain) -> str:
    item = domain.catalog.item(int(i))
    parts = []
    cat = domain.category_attr
    if cat and item.get(cat):
        parts.append(", ".join(item[cat]))
    if item.get("avg_rating") is not None:
        parts.append(f"rated {item['avg_rating']:.1f}/5")
    return item["title"] + (f" — {'; '.join(parts)}" if parts else "")


def diversify(ranked: list[int], domain, head: int = 20) -> list[int]:
    """Greedy re-order of the head: each pick is the best-ranked item whose categories the picks so far
    cover least (rank position breaks ties), so the top of the list spans more categories."""
    chosen, rest = [], list(ranked[:head])
    covered: dict[str, int] = {}
    while rest:
        def cost(pos_item):
            pos, item = pos_item
            return sum(covered.get(c, 0) for c in domain.item_categories[item]) * 3 + pos
        pos, item = min(enumerate(rest), key=cost)
        chosen.append(rest.pop(pos))
        for c in domain.item_categories[item]:
            covered[c] = covered.get(c, 0) + 1
    return chosen + list(ranked[head:])


def _avoided(i: int, ctx: ToolContext) -> bool:
    return bool(set(ctx.profile.disliked_categories) & set(ctx.domain.item_categories[i]))


def _cell(v) -> str:
    text = "" if v is None else str(v)
    return text if len(text) <= 200 else text[:200] + "..."


def _with_changes(text: str, changes: list[str]) -> str:
    return text + ("\n(snapped: " + "; ".join(changes) + ")" if changes else "")
