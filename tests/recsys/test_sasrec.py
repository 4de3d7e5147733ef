"""SASRec: causality, padding independence, determinism, learning, and parity with RecBole's layers."""
import numpy as np
import pytest
import torch

from recai.recsys import SASRec, SASRecConfig, evaluate_model
from recai.recsys.sasrec import SASRecNet

SMALL = SASRecConfig(dim=32, inner_dim=64, max_len=10, dropout=0.1, attn_dropout=0.1)


def test_learns_the_next_item_of_cyclic_sequences(cyclic_split):
    torch.manual_seed(0)
    untrained = SASRec(SASRecConfig(**{**SMALL.to_dict(), "n_items": 30}))
    chance = evaluate_model(untrained, cyclic_split.test)["ndcg@10"]
    model = SASRec(SMALL).fit(cyclic_split.train, cyclic_split.valid, epochs=4, batch_size=8, lr=5e-3,
                              device="cpu")
    ndcg = evaluate_model(model, cyclic_split.test)["ndcg@10"]
    # The next item is always last + 1: a trained model ranks it first; chance is about 0.15 here.
    assert chance < 0.4 and ndcg > 0.9, (chance, ndcg)
    assert model.report.best_ndcg > 0.9 and 1 <= model.report.best_epoch <= 4


def test_scores_ignore_padding_and_batch_neighbours():
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(**{**SMALL.to_dict(), "n_items": 30}))
    short, long = np.array([3, 4, 5]), np.arange(0, 9)
    alone = model.score(None, [short])
    batched = model.score(None, [short, long])  # short is right-padded to 9 here
    torch.testing.assert_close(batched[:1], alone)


def test_hidden_states_are_causal():
    torch.manual_seed(0)
    net = SASRecNet(SASRecConfig(**{**SMALL.to_dict(), "n_items": 30})).eval()
    a = torch.tensor([[1, 2, 3, 4, 5, 6]])
    b = torch.tensor([[1, 2, 3, 9, 9, 0]])  # same first three items, different future (and padding)
    torch.testing.assert_close(net(a)[:, :3], net(b)[:, :3])
    assert not torch.allclose(net(a)[:, 3], net(b)[:, 3])


def test_only_the_last_max_len_items_are_read():
    torch.manual_seed(0)
    model = SASRec(SASRecConfig(**{**SMALL.to_dict(), "n_items": 30}))
    hist = np.arange(25) % 30
    torch.testing.assert_close(model.score(None, [hist]), model.score(None, [hist[-10:]]))


def test_training_is_deterministic_given_a_seed(cyclic_split):
    def run(seed):
        m = SASRec(SMALL).fit(cyclic_split.train, cyclic_split.valid, epochs=2, batch_size=16, seed=seed, device="cpu")
        return m.score(None, cyclic_split.test.history)

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_empty_history_is_refused():
    model = SASRec(SASRecConfig(**{**SMALL.to_dict(), "n_items": 30}))
    with pytest.raises(ValueError, match="history row 1 is empty"):
        model.score(None, [[1], []])


def test_config_checks():
    with pytest.raises(ValueError, match="dim=30 is not divisible by n_heads=4"):
        SASRecConfig(dim=30, n_heads=4)
    with pytest.raises(ValueError, match=r"unknown SASRec config keys \['hidden'\]"):
        SASRecConfig.from_dict({"hidden": 3})


RECBOLE_NAMES = {"attn.q": "multi_head_attention.query", "attn.k": "multi_head_attention.key",
                 "attn.v": "multi_head_attention.value", "attn.o": "multi_head_attention.dense",
                 "attn.norm": "multi_head_attention.LayerNorm", "ffn.w1": "feed_forward.dense_1",
                 "ffn.w2": "feed_forward.dense_2", "ffn.norm": "feed_forward.LayerNorm"}


def to_recbole(key: str) -> str:
    """blocks.0.attn.q.weight -> layer.0.multi_head_attention.query.weight"""
    _, i, module, part, leaf = key.split(".")
    return f"layer.{i}.{RECBOLE_NAMES[module + '.' + part]}.{leaf}"


def test_matches_recbole_sasrec_layers():
    """Same weights, eval mode: our network equals RecBole's embedding + LayerNorm + TransformerEncoder."""
    layers = pytest.importorskip("recbole.model.layers")
    cfg = SASRecConfig(n_items=20, dim=16, n_heads=2, inner_dim=24, max_len=7, n_layers=2)
    torch.manual_seed(0)
    ours = SASRecNet(cfg).eval()
    with torch.no_grad():
        for p in ours.parameters():  # biases start at 0 and norms at 1: perturb so every weight matters
            p.add_(0.05 * torch.randn_like(p))
    ref = layers.TransformerEncoder(n_layers=2, n_heads=2, hidden_size=16, inner_size=24, hidden_dropout_prob=0.5,
                                    attn_dropout_prob=0.5, hidden_act="gelu", layer_norm_eps=1e-12).eval()
    ref.load_state_dict({to_recbole(k): v for k, v in ours.state_dict().items() if k.startswith("blocks.")})

    ids = torch.tensor([[3, 5, 7, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]])  # RecBole pads on the right too
    with torch.no_grad():
        x = ours.norm(ours.item_emb(ids) + ours.pos_emb(torch.arange(7)))  # SASRec.forward before the encoder
        mask = (ids != 0)[:, None, None, :].expand(-1, -1, 7, -1).tril()  # RecBole's get_attention_mask
        expected = ref(x, torch.where(mask, 0.0, -10000.0), output_all_encoded_layers=False)[-1]
        got = ours(ids)
    real = ids != 0
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)
