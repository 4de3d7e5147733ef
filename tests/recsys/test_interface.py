"""The interface all four recommenders share: shapes, seen-item exclusion, save/load, errors."""
import json

import numpy as np
import pytest
import torch

import recai.recsys as rs
from recai.data import Interactions
from recai.errors import CheckpointError, DataError

FAST = dict(epochs=2, batch_size=32, device="cpu")


def fitted(kind, split):
    if kind == "pop":
        return rs.Popularity().fit(split.train)
    if kind == "itemcf":
        return rs.ItemCF(neighbors=5).fit(split.train)
    if kind == "mf":
        return rs.BPRMF(dim=8).fit(split.train, split.valid, **FAST)
    return rs.SASRec(rs.SASRecConfig(dim=16, inner_dim=32, max_len=8)).fit(split.train, split.valid, **FAST)


KINDS = ["pop", "itemcf", "mf", "sasrec"]


@pytest.fixture(scope="module", params=KINDS)
def model_and_split(request, clustered_split):
    return fitted(request.param, clustered_split), clustered_split


def test_score_and_recommend_shapes(model_and_split):
    model, split = model_and_split
    users, hist = split.test.users[:5], split.test.history[:5]
    scores = model.score(users, hist)
    assert scores.shape == (5, split.train.n_items) and scores.dtype == torch.float32
    top, items = model.recommend(users, hist, k=7)
    assert top.shape == items.shape == (5, 7)
    assert (top[:, :-1] >= top[:, 1:]).all()  # best first
    torch.testing.assert_close(top, scores.gather(1, items))


def test_recommend_excludes_seen_items(model_and_split):
    model, split = model_and_split
    users, hist = split.test.users, split.test.history
    _, items = model.recommend(users, hist, k=10)
    for row, h in zip(items.tolist(), hist):
        assert not set(row) & set(h.tolist())
    # without exclusion, the seen items come back for at least some users (they score highly)
    _, items = model.recommend(users, hist, k=10, exclude_seen=False)
    assert any(set(row) & set(h.tolist()) for row, h in zip(items.tolist(), hist))


def test_save_load_round_trip_gives_identical_scores(model_and_split, tmp_path):
    model, split = model_and_split
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["kind"] == model.kind
    assert not list((tmp_path / "m").glob("*.tmp"))  # atomic writes leave no temporaries
    again = rs.load(tmp_path / "m")
    assert type(again) is type(model)
    users, hist = split.test.users, split.test.history
    assert torch.equal(again.score(users, hist), model.score(users, hist))


def test_evaluate_model_on_every_kind(model_and_split):
    model, split = model_and_split
    res = rs.evaluate_model(model, split.test, ks=(5, 10), batch_size=7)
    assert set(res) == {f"{m}@{k}" for m in ("ndcg", "recall", "mrr", "hit") for k in (5, 10)}
    assert all(0.0 <= v <= 1.0 for v in res.values())
    assert res == pytest.approx(rs.evaluate_model(model, split.test, ks=(5, 10), batch_size=1000), abs=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_fit_on_empty_data_is_a_data_error(kind):
    from recai.data import EvalSet, Split

    empty = Interactions.from_events([], [], n_items=4)
    split = Split(empty, EvalSet(np.zeros(0, np.int64), [], np.zeros((0, 1), np.int64)), None, "leave-one-out")
    with pytest.raises(DataError, match="0 users and 0 events"):
        fitted(kind, split)


@pytest.mark.parametrize("kind", ["mf", "sasrec"])
def test_fit_on_a_single_user_is_a_data_error(kind):
    from recai.data import leave_one_out

    split = leave_one_out(Interactions.from_events(["u"] * 6, [0, 1, 2, 3, 4, 5], n_items=6))
    with pytest.raises(DataError, match="at least 2 users.*1 users and 4 events"):
        fitted(kind, split)


def test_unfitted_model_says_so():
    with pytest.raises(RuntimeError, match="SASRec is not fitted"):
        rs.SASRec().score(None, [[1]])
    with pytest.raises(RuntimeError, match="BPRMF is not fitted"):
        rs.BPRMF().save("nowhere")


def test_load_rejects_unknown_kind(tmp_path, clustered_split):
    rs.Popularity().fit(clustered_split.train).save(tmp_path)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"kind": "deepfm", "config": {}}))
    known = r"'itemcf', 'mf', 'popularity', 'sasrec'"
    with pytest.raises(CheckpointError, match=rf"unknown recommender kind 'deepfm'.*{known}"):
        rs.load(tmp_path)
    cfg.write_text("{}")
    with pytest.raises(CheckpointError, match="no string field \"kind\""):
        rs.load(tmp_path)
    with pytest.raises(CheckpointError, match="config.json: not found"):
        rs.load(tmp_path / "missing")


def test_load_rejects_mismatched_tensors(tmp_path, clustered_split):
    rs.BPRMF(dim=4).fit(clustered_split.train, epochs=1, device="cpu").save(tmp_path)
    cfg = tmp_path / "config.json"
    meta = json.loads(cfg.read_text())
    meta["config"]["dim"] = 5
    cfg.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"mis-shaped.*user_emb.weight: expected \(80, 5\), got \(80, 4\)"):
        rs.load(tmp_path)
    meta["config"] = {"dim": 4}
    cfg.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="not describe a valid 'mf' model.*n_users"):
        rs.load(tmp_path)


def test_bad_inputs_name_the_value(clustered_split):
    model = fitted("mf", clustered_split)
    with pytest.raises(ValueError, match="user index 80 is outside"):
        model.score([0, 80])
    with pytest.raises(ValueError, match=r"k must be in \[1, 40\]"):
        model.recommend([0], [[1]], k=41)
    with pytest.raises(ValueError, match="exclude_seen=True needs histories"):
        model.recommend([0], None, k=3)
