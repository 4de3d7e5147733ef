"""Small synthetic histories with a planted pattern, so tests can tell learning from chance."""
import numpy as np
import pytest

from recai.data import Interactions, leave_one_out


def cyclic(n_users: int = 60, n_items: int = 30, length: int = 12, seed: int = 0) -> Interactions:
    """Each user walks the catalog in order from a random start: the next item is always last + 1 (mod n)."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        start = int(rng.integers(n_items))
        users += [u] * length
        items += [(start + t) % n_items for t in range(length)]
        times += list(range(length))
    return Interactions.from_events(users, items, n_items, times)


def clustered(n_users: int = 80, n_items: int = 40, n_clusters: int = 4, per_user: int = 8,
              seed: int = 0) -> Interactions:
    """User u only touches items of cluster u % n_clusters (10 items each), in random order."""
    rng = np.random.default_rng(seed)
    size = n_items // n_clusters
    users, items = [], []
    for u in range(n_users):
        c = u % n_clusters
        chosen = rng.choice(size, per_user, replace=False) + c * size
        users += [u] * per_user
        items += chosen.tolist()
    return Interactions.from_events(users, items, n_items)


@pytest.fixture(scope="session")
def cyclic_split():
    return leave_one_out(cyclic())


@pytest.fixture(scope="session")
def clustered_split():
    return leave_one_out(clustered())


@pytest.fixture(scope="session")
def make_cyclic():
    """The `cyclic` builder, for tests that need other sizes."""
    return cyclic
