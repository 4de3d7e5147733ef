"""Embedding tasks with a scripted embedder whose query points at the item after the last watched one."""
import re

import pytest
import torch

from recai.data import Catalog
from recai.eval.embedding import embedding_scores
from recai.eval.task_data import EvalItem

N = 10


class NextItemEmbedder:
    """A title alone -> e_i; a query ("A user watched: ...") -> e_(last + 1)."""

    def encode(self, texts, batch_size=64, **_):
        out = torch.zeros(len(texts), N)
        for r, text in enumerate(texts):
            nums = [int(n) for n in re.findall(r"Film (\d+)", text)]
            out[r, (nums[-1] + 1) % N if text.startswith("A user watched") else nums[0]] = 1.0
        return out


@pytest.fixture(scope="module")
def catalog():
    return Catalog.build([{"id": str(i), "title": f"Film {i}"} for i in range(N)])


def test_retrieval_and_ranking(catalog):
    items = [EvalItem("a", "ranking", "p", "Film 4", ["Film 2", "Film 3"], ["Film 7", "Film 4", "Film 9"]),
             EvalItem("b", "ranking", "p", "Film 6", ["Film 1"], ["Film 6", "Film 2"]),  # query points at 2
             EvalItem("c", "ranking", "p", "Film 99", ["Film 1"], ["Film 99"])]  # unknown target: skipped
    r = embedding_scores(NextItemEmbedder(), catalog, items, "embedding_retrieval")
    assert r["items"] == 2 and r["unknown_titles"] == 1
    assert r["hit@1"] == 0.5
    k = embedding_scores(NextItemEmbedder(), catalog, items, "embedding_ranking")
    assert k["hit@1"] == 0.5 and k["hit@5"] == 1.0
    with pytest.raises(ValueError, match="unknown embedding task"):
        embedding_scores(NextItemEmbedder(), catalog, items, "embedding_dance")
