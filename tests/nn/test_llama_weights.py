"""Checkpoint loading: sharded HF dirs, llama2.c, and clear errors for bad input."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from recai.errors import CheckpointError
from recai.nn.llama import Llama, LlamaConfig
from recai.nn.llama_weights import unpermute_rope_rows


def tiny(tmp_path, **kw):
    torch.manual_seed(0)
    args = dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=50, hidden_dim=48, max_seq_len=64)
    args.update(kw)
    model = Llama(LlamaConfig(**args)).eval()
    model.save_pretrained(tmp_path / "m")
    return model, tmp_path / "m"


def test_roundtrip_single_file(tmp_path):
    model, d = tiny(tmp_path, tie_embeddings=False)
    loaded = Llama.from_pretrained(d)
    x = torch.randint(0, 50, (1, 9))
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_sharded_index(tmp_path):
    model, d = tiny(tmp_path)
    state = load_file(d / "model.safetensors")
    names = sorted(state)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    (d / "model.safetensors").unlink()
    weight_map = {}
    for shard, keys in shards.items():
        save_file({k: state[k] for k in keys}, str(d / shard))
        weight_map.update({k: shard for k in keys})
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    loaded = Llama.from_pretrained(d)
    x = torch.randint(0, 50, (1, 9))
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    (d / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model-00002-of-00002.safetensors"):
        Llama.from_pretrained(d)


def test_truncated_safetensors_names_file(tmp_path):
    _, d = tiny(tmp_path)
    f = d / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        Llama.from_pretrained(d)


def test_corrupt_safetensors_header(tmp_path):
    _, d = tiny(tmp_path)
    (d / "model.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        Llama.from_pretrained(d)


def test_config_disagreeing_with_tensors_lists_misshaped(tmp_path):
    _, d = tiny(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["intermediate_size"] = 64
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"mis-shaped: .*feed_forward\.w1\.weight"):
        Llama.from_pretrained(d)


def test_missing_and_unexpected_tensors_listed(tmp_path):
    _, d = tiny(tmp_path)
    state = load_file(d / "model.safetensors")
    state.pop("model.layers.1.mlp.up_proj.weight")
    state["model.layers.0.mystery.weight"] = torch.zeros(3)
    save_file(state, str(d / "model.safetensors"))
    with pytest.raises(CheckpointError) as err:
        Llama.from_pretrained(d)
    assert "missing: layers.1.feed_forward.w3.weight" in str(err.value)
    assert "model.layers.0.mystery.weight" in str(err.value)


def test_config_missing_field_and_bad_json(tmp_path):
    _, d = tiny(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    del cfg["hidden_size"]
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="hidden_size"):
        Llama.from_pretrained(d)
    (d / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json"):
        Llama.from_pretrained(d)


def test_missing_path(tmp_path):
    with pytest.raises(CheckpointError, match="nope"):
        Llama.from_pretrained(tmp_path / "nope")


def test_llama2c_truncated_and_garbage(tmp_path, stories_dir):
    data = (stories_dir / "stories260K.bin").read_bytes()
    cut = tmp_path / "cut.bin"
    cut.write_bytes(data[:-100])
    with pytest.raises(CheckpointError, match="cut.bin.*truncated"):
        Llama.from_pretrained(cut)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01" * 40)
    with pytest.raises(CheckpointError, match="junk.bin"):
        Llama.from_pretrained(junk)


def test_llama2c_loads_config(stories_dir):
    model = Llama.from_pretrained(stories_dir / "stories260K.bin")
    c = model.cfg
    assert (c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size) == (64, 172, 5, 8, 4, 512)
    assert c.tie_embeddings and model.output.weight is model.tok_embeddings.weight


def test_unpermute_inverts_the_pair_layout():
    n_heads, hd, cols = 3, 8, 5
    w = torch.randn(n_heads * hd, cols)
    # The interleaving a converter applies: rotate-half rows (x..., y...) → pairs (x0, y0, x1, y1, ...).
    pairs = w.reshape(n_heads, 2, hd // 2, cols).transpose(1, 2).reshape(n_heads * hd, cols)
    assert torch.equal(unpermute_rope_rows(pairs, n_heads), w)


def test_saved_dir_loads_in_transformers_with_same_keys(tmp_path):
    transformers = pytest.importorskip("transformers")
    _, d = tiny(tmp_path, tie_embeddings=False)
    ref = transformers.LlamaForCausalLM.from_pretrained(d)
    saved = set(load_file(d / "model.safetensors"))
    assert saved == set(ref.state_dict())
