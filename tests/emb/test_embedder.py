"""Embedder and the BERT encoder on real all-MiniLM-L6-v2 weights, against transformers' BertModel."""
import random

import pytest
import torch

from recai.emb import Embedder
from recai.errors import CheckpointError
from recai.nn.bert import Bert, BertConfig, pool
from recai.nn.bert_weights import load_bert, save_bert, sentence_settings

transformers = pytest.importorskip("transformers")


def varied_sentences(n: int = 500, seed: int = 0) -> list[str]:
    """Titles, queries, unicode, punctuation, numbers, special-token text, and texts past 256 tokens."""
    import recai.data as rd

    rng = random.Random(seed)
    titles = rd.load().catalog.values("title")
    words = "the a movie film about love war space heist quiet dark funny sad robot dog city night".split()
    makers = [
        lambda: rng.choice(titles),
        lambda: f"I want something like {rng.choice(titles)} but {rng.choice(['darker', 'funnier', 'shorter'])}",
        lambda: " ".join(rng.choice(words) for _ in range(rng.randint(1, 30))),
        lambda: "Café déjà vu — naïve 北京 東京 🎬 " + rng.choice(titles),
        lambda: f"{rng.randint(0, 10 ** 6)} stars!!! ??? {rng.random():.5f} [SEP] [CLS] #tag @user",
        lambda: " ".join(rng.choice(titles) for _ in range(rng.randint(40, 80))),  # well past 256 tokens
        lambda: rng.choice(titles).upper(),
        lambda: "",
    ]
    return [makers[i % len(makers)]() for i in range(n)]


def reference_embeddings(folder, texts: list[str], max_length: int) -> torch.Tensor:
    """transformers BertModel + mean pooling + L2 normalisation, truncated as sentence-transformers does."""
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.BertModel.from_pretrained(folder).eval()
    out = []
    with torch.no_grad():
        for lo in range(0, len(texts), 50):
            b = tok(texts[lo:lo + 50], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            h = model(**b).last_hidden_state
            m = b["attention_mask"][..., None].float()
            out.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1))
    return torch.cat(out)


def test_minilm_matches_transformers_on_500_sentences(minilm_dir):
    texts = varied_sentences()
    emb = Embedder.from_pretrained(str(minilm_dir))
    assert (emb.pooling, emb.normalize, emb.max_length, emb.dim) == ("mean", True, 256, 384)
    assert max(len(ids) for ids in emb.tokenize(texts)) == 256  # some inputs were truncated
    ours = emb.encode(texts, batch_size=32)
    ref = reference_embeddings(minilm_dir, texts, 256)
    cos = (ours * ref).sum(-1)
    assert float(cos.min()) >= 0.99999, f"worst cosine {float(cos.min())} at {texts[int(cos.argmin())][:80]!r}"


def test_batching_does_not_change_vectors(minilm_dir):
    emb = Embedder.from_pretrained(str(minilm_dir))
    texts = varied_sentences(40, seed=1)
    one_by_one = torch.cat([emb.encode([t]) for t in texts])
    torch.testing.assert_close(emb.encode(texts, batch_size=16), one_by_one, atol=2e-6, rtol=0)
    torch.testing.assert_close(emb.encode(texts, max_tokens=300), one_by_one, atol=2e-6, rtol=0)


def test_batches_respect_the_token_cap():
    from recai.emb.embedder import _batches

    lengths = [256, 256, 256, 100, 40, 40, 40, 3]
    order = list(range(8))  # already longest first
    runs = list(_batches(order, lengths, batch_size=3, max_tokens=512))
    assert runs == [[0, 1], [2, 3], [4, 5, 6], [7]]  # 2 x 256 fit, then 256 sets the width; 3 texts at most
    assert list(_batches([0], [900], batch_size=8, max_tokens=512)) == [[0]]  # one text always goes


def test_bf16_is_close(minilm_dir):
    texts = varied_sentences(60, seed=2)
    full = Embedder.from_pretrained(str(minilm_dir)).encode(texts)
    half = Embedder.from_pretrained(str(minilm_dir), dtype=torch.bfloat16).encode(texts)
    assert half.dtype == torch.float32 and float((full * half).sum(-1).min()) > 0.99


def test_sentence_settings_read_the_folder(minilm_dir, tmp_path):
    st = sentence_settings(minilm_dir)
    assert (st.pooling, st.normalize, st.max_seq_length, st.lowercase) == ("mean", True, 256, False)
    (tmp_path / "config.json").write_text("{}")
    assert sentence_settings(tmp_path).normalize is False  # a plain HF folder: mean, not normalised
    (tmp_path / "modules.json").write_text('[{"type": "sentence_transformers.models.Pooling", "path": "p"}]')
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "config.json").write_text('{"pooling_mode_mean_sqrt_len_tokens": true}')
    with pytest.raises(CheckpointError, match="p/config.json: pooling"):
        sentence_settings(tmp_path)


def test_random_bert_round_trips_through_transformers(tmp_path):
    """Our save_bert layout loads in transformers and gives the same hidden states (another shape)."""
    cfg = BertConfig(vocab_size=50, dim=32, n_layers=3, n_heads=4, inner_dim=40, max_positions=20,
                     activation="gelu_new")
    torch.manual_seed(0)
    ours = Bert(cfg)
    with torch.no_grad():
        for p in ours.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    save_bert(ours, tmp_path)
    theirs = transformers.BertModel.from_pretrained(tmp_path).eval()
    again = load_bert(tmp_path)
    ids = torch.randint(1, 50, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    with torch.no_grad():
        ref = theirs(input_ids=ids, attention_mask=mask).last_hidden_state
        got = again(ids, mask)
    torch.testing.assert_close(got[mask.bool()], ref[mask.bool()], atol=1e-5, rtol=1e-5)


def test_pooling_modes_by_hand():
    h = torch.tensor([[[1.0, 0.0], [3.0, 4.0], [9.0, 9.0]], [[2.0, 2.0], [0.0, 0.0], [5.0, 1.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    torch.testing.assert_close(pool(h, mask, "mean"), torch.tensor([[2.0, 2.0], [7 / 3, 1.0]]))
    assert pool(h, mask, "cls").tolist() == [[1.0, 0.0], [2.0, 2.0]]
    assert pool(h, mask, "last").tolist() == [[3.0, 4.0], [5.0, 1.0]]
    assert pool(h, mask, "max").tolist() == [[3.0, 4.0], [5.0, 2.0]]
    assert pool(h, mask, "last", normalize=True)[0].tolist() == pytest.approx([0.6, 0.8])
    left = torch.tensor([[0, 1, 1]])
    assert pool(h[:1], left, "last").tolist() == [[9.0, 9.0]]  # left padding: still the last real token
    with pytest.raises(ValueError, match="row 0 has no real token"):
        pool(h[:1], torch.zeros(1, 3), "mean")
    with pytest.raises(ValueError, match="unknown pooling 'sum'"):
        pool(h, mask, "sum")


def test_bad_checkpoints_are_named(tmp_path, minilm_dir):
    with pytest.raises(CheckpointError, match="no such directory"):
        load_bert(tmp_path / "nope")
    (tmp_path / "config.json").write_text('{"model_type": "roberta"}')
    with pytest.raises(CheckpointError, match="RoBERTa-style"):
        load_bert(tmp_path)
    cfg = BertConfig(vocab_size=10, dim=8, n_layers=1, n_heads=2, inner_dim=8, max_positions=4)
    save_bert(Bert(cfg), tmp_path)
    from safetensors.torch import load_file, save_file

    state = load_file(tmp_path / "model.safetensors")
    state.pop("encoder.layer.0.output.dense.bias")
    state["encoder.layer.0.extra.weight"] = torch.zeros(2)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing: layers\.0\.ffn\.down\.bias(.|\n)*unexpected: <unknown tensor>"):
        load_bert(tmp_path)


def test_encode_errors(minilm_dir):
    emb = Embedder.from_pretrained(str(minilm_dir))
    with pytest.raises(TypeError, match="list of texts"):
        emb.encode("one text")
    with pytest.raises(TypeError, match="position 1"):
        emb.encode(["ok", 3])
    with pytest.raises(ValueError, match="batch_size"):
        emb.encode(["ok"], batch_size=0)
    with pytest.raises(ValueError, match="exceeds the model's 512 positions"):
        emb.model(torch.zeros(1, 513, dtype=torch.long))
