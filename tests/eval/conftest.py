"""A 40-film, 12-user dataset for the evaluator's task and runner tests."""
import pytest

from recai.data import Catalog, Dataset, Interactions


@pytest.fixture(scope="module")
def dataset():
    catalog = Catalog.build([{"id": str(i), "title": f"Film {i:02d}", "year": 2000 + i, "genres": ["Drama"]}
                             for i in range(40)])
    users, items = [], []
    for u in range(12):
        for k in range(6):
            users.append(f"u{u}")
            items.append((3 * u + k) % 40)
    return Dataset("tiny", catalog, Interactions.from_events(users, items, n_items=40), "memory")
