"""ItemIndex: search with exclusions and filters by id, save/load, and bad input."""
import pytest
import torch

from recai.emb import ItemIndex
from recai.errors import CheckpointError


def small_index():
    vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0], [0.9, 0.1]])
    return ItemIndex(vectors, ids=["a", "b", "c", "d", "e"])


def test_search_by_id_with_exclusions_and_filters():
    index = small_index()
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert index.search(q, k=3).ids == [["a", "e", "c"], ["b", "c", "e"]]
    assert index.search(q, k=2, exclude=[["a"], []]).ids == [["e", "c"], ["b", "c"]]
    hits = index.search(q[0], k=3, allowed=["d", "b"])
    assert hits.ids == [["b", "d"]] and hits.indices[0].tolist() == [1, 3, -1]
    assert torch.isneginf(hits.scores[0, 2])


def test_save_and_load_round_trip(tmp_path):
    index = small_index()
    path = index.save(tmp_path / "items.safetensors")
    again = ItemIndex.load(path)
    assert again.ids == index.ids and torch.equal(again.vectors, index.vectors)
    assert not list(tmp_path.glob(".*.tmp"))


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="duplicate item id 'x'"):
        ItemIndex(torch.zeros(3, 2), ids=["x", "y", "x"])
    bad = torch.zeros(3, 2)
    bad[2, 0] = float("inf")
    with pytest.raises(ValueError, match="vector row 2 holds NaN or inf"):
        ItemIndex(bad)
    with pytest.raises(ValueError, match="2 ids for 3 vectors"):
        ItemIndex(torch.zeros(3, 2), ids=["a", "b"])
    index = small_index()
    with pytest.raises(ValueError, match="unknown item id in exclude 'zz'"):
        index.search(torch.ones(1, 2), k=2, exclude=[["zz"]])
    with pytest.raises(ValueError, match="dimension mismatch"):
        index.search(torch.ones(1, 3), k=2)
    with pytest.raises(ValueError, match=r"k must be an int in \[1, N=5\], got 6"):
        index.search(torch.ones(1, 2), k=6)
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(CheckpointError, match="junk.safetensors: unreadable ItemIndex file"):
        ItemIndex.load(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="no such index file"):
        ItemIndex.load(tmp_path / "none.safetensors")


def test_search_bad_input_is_named():
    index = small_index()
    with pytest.raises(ValueError, match="item matrix is empty"):
        ItemIndex(torch.zeros(0, 2)).search(torch.ones(1, 2), k=1)
    with pytest.raises(ValueError, match="query row 1 holds NaN or inf"):
        index.search(torch.tensor([[1.0, 0.0], [float("nan"), 0.0]]), k=2)
    with pytest.raises(ValueError, match="unknown item id in allowed 'q'"):
        index.search(torch.ones(1, 2), k=2, allowed=["a", "q"])
    with pytest.raises(ValueError, match="allowed must be a bool mask of shape"):
        index.search(torch.ones(1, 2), k=2, allowed=torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="exclude has 2 lists for 1 queries"):
        index.search(torch.ones(1, 2), k=2, exclude=[["a"], ["b"]])
