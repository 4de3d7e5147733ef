"""A six-film catalog, its interactions and a tiny knowledge graph, shared by the knowledge tests."""
import pytest

from recai.data import Catalog, Interactions

FILMS = [
    {"id": "10", "title": "Heat", "year": 1995, "genres": ["Action", "Crime"]},
    {"id": "11", "title": "Casino", "year": 1995, "genres": ["Crime", "Drama"]},
    {"id": "12", "title": "Ronin", "year": 1998, "genres": ["Action", "Thriller"]},
    {"id": "13", "title": "Toy Story", "year": 1995, "genres": ["Animation", "Comedy"]},
    {"id": "14", "title": "Toy Story 2", "year": 1999, "genres": ["Animation", "Comedy"]},
    {"id": "15", "title": "Alien", "year": 1979, "genres": ["Horror", "Sci-Fi"]},
]


@pytest.fixture()
def catalog():
    return Catalog.build(FILMS)


@pytest.fixture()
def interactions():
    # users: a watches Heat, Casino, Ronin; b Heat, Ronin; c Toy Story, Toy Story 2; d Heat, Alien
    events = [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 2), ("c", 3), ("c", 4), ("d", 0), ("d", 5)]
    return Interactions.from_events([u for u, _ in events], [i for _, i in events], n_items=len(FILMS))


# Heat and Casino share actor p1 (2 hops); p2 directs Heat and a film f9 outside the catalog whose
# sequel is Ronin (3 hops); Toy Story -sequel- Toy Story 2 (1 hop); every film has the language
# English (a hub once hub_degree < 6).
_TRIPLES = [("e10", "film.film.actor", "p1"), ("e11", "film.film.actor", "p1"),
           ("e10", "film.film.directed_by", "p2"), ("f9", "film.film.directed_by", "p2"),
           ("f9", "film.film.sequel", "e12"),
           ("e13", "film.film.sequel", "e14")] + [(f"e{i}", "film.film.language", "english") for i in range(10, 16)]
_LINKS = {str(i): f"e{i}" for i in range(10, 16)}


@pytest.fixture()
def triples():
    return list(_TRIPLES)


@pytest.fixture()
def links():
    return dict(_LINKS)
