"""A small real domain for agent tests: the 600 most rated ml-latest-small movies (catalog saved to a
file, so tests can check it stays byte-identical), a briefly trained SASRec, and a MiniLM item index."""
import numpy as np
import pytest


@pytest.fixture(scope="session")
def small_domain(minilm_dir, tmp_path_factory):
    from recai.agent.domain import Domain
    from recai.data import Catalog, load
    from recai.data.splits import leave_one_out
    from recai.emb import Embedder, ItemIndex
    from recai.emb.tasks import catalog_texts
    from recai.recsys import SASRec

    data = load("ml-latest-small")
    counts = np.bincount(data.interactions.item, minlength=len(data.catalog))
    kept = np.sort(np.argsort(-counts, kind="stable")[:600])
    path = tmp_path_factory.mktemp("agent") / "catalog.sqlite"
    data.catalog.subset(kept.tolist()).save(path)
    catalog = Catalog.open(path)
    inter = data.interactions.reindex_items(kept)
    ranker = SASRec().fit(leave_one_out(inter).train, epochs=2, seed=0)
    embedder = Embedder.from_pretrained(str(minilm_dir))
    index = ItemIndex.build(embedder, catalog_texts(catalog), ids=catalog.ids)
    return Domain.from_parts("ml-small-600", catalog, inter, ranker, embedder, index)


@pytest.fixture
def title_index(small_domain):
    """title (without year) -> catalog index, for readable assertions."""
    import re
    return {re.sub(r"\s*\(\d{4}\)$", "", t): i for i, t in enumerate(small_domain.catalog.titles)}
