"""Reasoning paths in a knowledge graph between a user's history items and the candidates.

The graph is a list of (head, relation, tail) triples over entity ids plus a link file mapping
catalog item ids to entities (RecBole's `<name>.kg` and `<name>.link`, e.g. MovieLens-100K's
Freebase graph). Edges are walked in both directions. Paths of 1 to `max_hops` (≤ 3) edges join a
history item to a candidate:

    1 hop    Toy Story (1995) and Toy Story 2 (1999) are directly linked (sequel)
    2 hops   Heat (1995) and Casino (1995) share an actor
    3 hops   Heat (1995) –actor– a linked entity –actor– a linked entity –sequel– Ronin (1998)

Entities other than catalog items carry no names in such graphs, so they are named by role. A
path scores by how specific its middle entities are: 1 / log2(1 + degree) for each, multiplied, so
"share a director" outranks "share the language English". Entities with more than `hub_degree`
edges are never walked through (a genre or a language links thousands of films and says little).
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from recai.data.loaders.recbole import read_header
from recai.errors import DataError
from recai.knowledge.facts import Fact

# Freebase relation -> the role word used in sentences (the suffix after the last dot otherwise).
ROLES = {
    "film.film.actor": "actor", "film.actor.film": "actor", "film.film.genre": "genre",
    "film.film_genre.films_in_this_genre": "genre", "film.film.directed_by": "director",
    "film.director.film": "director", "film.film.produced_by": "producer", "film.producer.film": "producer",
    "film.film.written_by": "writer", "film.writer.film": "writer", "film.film.language": "language",
    "film.film.country": "country", "film.film.cinematography": "cinematographer",
    "film.cinematographer.film": "cinematographer", "film.film.production_companies": "production company",
    "film.production_company.films": "production company", "film.film.rating": "content rating",
    "film.content_rating.film": "content rating", "film.film.subjects": "subject",
    "film.film_subject.films": "subject", "film.film.award_nomination": "award nomination",
    "film.film.award_won": "award", "film.film.sequel": "sequel", "film.film.prequel": "prequel",
}


def role(relation: str) -> str:
    return ROLES.get(relation) or relation.rsplit(".", 1)[-1].replace("_", " ")


class KnowledgeGraph:
    """Adjacency over integer entity ids; `item_entity[catalog index]` is the item's entity or -1."""

    def __init__(self, triples: list[tuple[str, str, str]], links: dict[str, str], catalog, hub_degree: int = 300):
        ids: dict[str, int] = {}
        self.relations: list[str] = []
        rel_ids: dict[str, int] = {}
        adj: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for h, r, t in triples:
            a, b = ids.setdefault(h, len(ids)), ids.setdefault(t, len(ids))
            if r not in rel_ids:
                rel_ids[r] = len(self.relations)
                self.relations.append(r)
            adj[a].append((rel_ids[r], b))
            adj[b].append((rel_ids[r], a))
        self.adj = {n: list(dict.fromkeys(edges)) for n, edges in adj.items()}
        self.titles, self.hub_degree = catalog.display_titles(), hub_degree
        self.item_entity = [-1] * len(catalog)
        self.entity_item: dict[int, int] = {}
        for item_id, entity in links.items():
            idx = catalog.get_index(item_id)
            if idx is not None and entity in ids:
                self.item_entity[idx] = ids[entity]
                self.entity_item[ids[entity]] = idx
        self.n_entities, self.n_triples = len(ids), len(triples)

    @classmethod
    def load_recbole(cls, kg_path: str | Path, link_path: str | Path, catalog, **kwargs) -> "KnowledgeGraph":
        """From RecBole's atomic `.kg` (head_id, relation_id, tail_id) and `.link` (item_id, entity_id)."""
        triples = [tuple(row) for row in _read_tsv(Path(kg_path), ("head_id", "relation_id", "tail_id"))]
        links = dict(_read_tsv(Path(link_path), ("item_id", "entity_id")))
        if not triples:
            raise DataError(f"{kg_path}: no triples")
        return cls(triples, links, catalog, **kwargs)

    def degree(self, node: int) -> int:
        return len(self.adj.get(node, ()))

    def linked_items(self) -> int:
        return sum(e >= 0 for e in self.item_entity)

    # ---- paths ---------------------------------------------------------------------------------
    def _weight(self, node: int) -> float:
        return 1.0 / math.log2(1 + max(self.degree(node), 1))

    def paths(self, history: list[int], candidates: list[int], max_hops: int = 3) -> dict[int, list[tuple]]:
        """candidate -> paths from some history item, best first. A path is (score, nodes, relations)
        with nodes[0] a history item's entity and nodes[-1] the candidate's."""
        if not 1 <= max_hops <= 3:
            raise ValueError(f"max_hops must be 1, 2 or 3, got {max_hops}")
        # Walk out from the history: depth 1 (any node), depth 2 (through non-hub nodes only).
        near: dict[int, tuple] = {}  # node -> (score, nodes, rels) of the best path from history
        far: dict[int, tuple] = {}
        history, candidates = [int(h) for h in history], [int(c) for c in candidates]
        starts = [self.item_entity[h] for h in dict.fromkeys(history) if self.item_entity[h] >= 0]
        for s in starts:
            for r, x in self.adj.get(s, ()):
                _keep(near, x, (1.0, (s, x), (r,)))
                if max_hops >= 3 and x not in self.entity_item and self.degree(x) <= self.hub_degree:
                    wx = self._weight(x)
                    for r2, y in self.adj.get(x, ()):
                        if y != s:
                            _keep(far, y, (wx, (s, x, y), (r, r2)))
        out: dict[int, list[tuple]] = {}
        start_set = set(starts)
        for c in candidates:
            e = self.item_entity[c]
            if e < 0 or e in start_set:
                continue
            found = []
            if e in near:  # a direct edge from a history item
                found.append(near[e])
            for r, y in self.adj.get(e, ()):
                if max_hops >= 2 and y in near and near[y][1][0] != e and y not in start_set \
                        and self.degree(y) <= self.hub_degree:
                    score, nodes, rels = near[y]
                    found.append((score * self._weight(y), nodes + (e,), rels + (r,)))
                if max_hops >= 3 and y in far and y not in self.entity_item and self.degree(y) <= self.hub_degree:
                    score, nodes, rels = far[y]
                    if e not in nodes:
                        found.append((score * self._weight(y), nodes + (e,), rels + (r,)))
            if found:
                out[c] = sorted(found, key=lambda p: -p[0])
        return out

    # ---- sentences -----------------------------------------------------------------------------
    def _name(self, node: int) -> str:
        item = self.entity_item.get(node)
        return self.titles[item] if item is not None else ""

    def sentence(self, nodes: tuple, rels: tuple) -> str:
        first, last = self._name(nodes[0]), self._name(nodes[-1])
        roles = [role(self.relations[r]) for r in rels]
        if len(nodes) == 2:
            return f"{first} and {last} are directly linked ({roles[0]})."
        if len(nodes) == 3 and roles[0] == roles[1]:
            middle = self._name(nodes[1])
            return f"{first} and {last} share {repr(middle) if middle else _article(roles[0])}."
        steps = [first]
        for n, (node, r) in enumerate(zip(nodes[1:], roles)):
            name = last if n == len(roles) - 1 else (self._name(node) or "a linked entity")
            steps.append(f"–{r}– {name}")
        return " ".join(steps) + "."


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _keep(best: dict, node: int, path: tuple) -> None:
    if node not in best or path[0] > best[node][0]:
        best[node] = path


def _read_tsv(path: Path, fields: tuple[str, ...]) -> list[list[str]]:
    """The `fields` columns of a RecBole atomic file (header checked by the data layer's reader)."""
    header = list(read_header(path))
    with open(path, encoding="utf-8") as f:
        f.readline()
        missing = [x for x in fields if x not in header]
        if missing:
            raise DataError(f"{path}:1: header lacks {missing} (has {header})")
        cols = [header.index(x) for x in fields]
        rows = []
        for lineno, line in enumerate(f, 2):
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) < len(header):
                raise DataError(f"{path}:{lineno}: expected {len(header)} tab-separated fields, got {len(parts)}")
            rows.append([parts[c] for c in cols])
    return rows


class KGFacts:
    """The best `per_candidate` paths of each candidate that has one, as sentences."""

    def __init__(self, graph: KnowledgeGraph, max_hops: int = 3, per_candidate: int = 2):
        self.graph, self.max_hops, self.per_candidate = graph, max_hops, per_candidate

    def facts(self, history: list[int], candidates: list[int]) -> list[Fact]:
        out = []
        for c, paths in self.graph.paths(history, candidates, self.max_hops).items():
            seen = set()
            for score, nodes, rels in paths:
                text = self.graph.sentence(nodes, rels)
                if text not in seen:
                    seen.add(text)
                    out.append(Fact("kg", text, score, c))
                if len(seen) >= self.per_candidate:
                    break
        return out
