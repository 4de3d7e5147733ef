"""LoRA: merge/unmerge/disable equal the unmerged math; adapters move both ways between recai and PEFT."""
import json

import pytest
import torch

from recai.errors import CheckpointError
from recai.nn.llama import Llama
from recai.nn.lora import (LoRALinear, adapters_disabled, apply_lora, lora_layers, mark_trainable, merge_and_unload,
                           merge_lora, trainable_parameters, unmerge_lora)
from recai.nn.lora_peft import load_adapter, save_adapter
from tests.nn.test_llama_parity import random_model as parity_model

def random_model(seed, **cfg):
    """A tiny random Llama with embeddings at HF's init scale (std 0.02), so logits are O(1) and a
    1e-5 bar sits well above fp32 rounding."""
    model = parity_model(seed, **{"n_heads": 4, "n_kv_heads": 2, **cfg})
    with torch.no_grad():
        model.tok_embeddings.weight.mul_(0.02)
        if not model.cfg.tie_embeddings:
            model.output.weight.normal_(0, 0.5)
    return model


TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def adapted(seed=0, targets=TARGETS, **cfg):
    model = random_model(seed, **cfg)
    apply_lora(model, targets, r=4, alpha=8)
    with torch.no_grad():  # B starts at zero; give the adapters something to say
        for layer in lora_layers(model).values():
            layer.lora_b.normal_(0, 0.05)
    return model


def tokens(vocab=97):
    return torch.randint(0, vocab, (2, 24), generator=torch.Generator().manual_seed(3))


def test_fresh_adapter_changes_nothing_and_only_adapters_train():
    model = random_model(0)
    before = model(tokens()).detach()
    names = apply_lora(model, ["wq", "attention.wv"], r=2, alpha=4)
    assert names == ["layers.0.attention.wq", "layers.0.attention.wv", "layers.1.attention.wq", "layers.1.attention.wv"]
    assert torch.equal(model(tokens()), before)
    assert {id(p) for p in trainable_parameters(model)} == {id(p) for m in lora_layers(model).values()
                                                               for p in (m.lora_a, m.lora_b)}
    assert "layers.0.attention.wq.weight" in model.state_dict()  # the base weight keeps its checkpoint key
    assert mark_trainable(model, "norm.weight") == ["norm.weight"]


def test_merged_unmerged_and_disabled_forwards_agree():
    model = adapted().eval()
    x = tokens()
    with torch.no_grad():
        unmerged = model(x)
        with adapters_disabled(model):
            base = model(x)
        merge_lora(model)
        merged = model(x)
        with adapters_disabled(model):
            base_while_merged = model(x)
        unmerge_lora(model)
        again = model(x)
    assert (merged - unmerged).abs().max() <= 1e-5
    assert (base_while_merged - base).abs().max() <= 1e-5
    assert (again - unmerged).abs().max() <= 1e-5
    assert (unmerged - base).abs().max() > 1e-2  # the adapters do change the output
    plain = adapted()
    merge_and_unload(plain)
    assert not lora_layers(plain) and (plain(x) - unmerged).abs().max() <= 1e-5


def test_save_pretrained_folds_the_adapters_in(tmp_path):
    transformers = pytest.importorskip("transformers")
    model = adapted(tie_embeddings=False)
    model.save_pretrained(tmp_path)
    ref = transformers.LlamaForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    with torch.no_grad():
        assert (ref(tokens()).logits - model(tokens())).abs().max() <= 1e-4
    assert lora_layers(model)  # the model itself keeps its adapters


def test_our_adapter_loads_in_peft_with_the_same_logits(tmp_path):
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    model = random_model(1, n_heads=4, n_kv_heads=2, tie_embeddings=False)
    model.save_pretrained(tmp_path / "base")
    apply_lora(model, TARGETS, r=4, alpha=8)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_b.normal_(0, 0.05)
    save_adapter(model, tmp_path / "adapter", base_model_name_or_path=str(tmp_path / "base"))
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["target_modules"] == sorted(TARGETS) and config["r"] == 4
    hf = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "base", dtype=torch.float32)
    theirs = peft.PeftModel.from_pretrained(hf, tmp_path / "adapter").eval()
    with torch.no_grad():
        assert (theirs(tokens()).logits - model.eval()(tokens())).abs().max() <= 1e-4


def test_peft_adapter_loads_in_recai_with_the_same_logits(tmp_path):
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    random_model(2, tie_embeddings=False).save_pretrained(tmp_path / "base")
    hf = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "base", dtype=torch.float32)
    config = peft.LoraConfig(r=8, lora_alpha=32, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.1)
    theirs = peft.get_peft_model(hf, config)
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    theirs.save_pretrained(tmp_path / "peft")
    ours = Llama.from_pretrained(tmp_path / "base")
    names = load_adapter(ours, tmp_path / "peft")
    assert len(names) == 2 * 3 and all(isinstance(m, LoRALinear) for m in lora_layers(ours).values())
    with torch.no_grad():
        assert (theirs.eval()(tokens()).logits - ours.eval()(tokens())).abs().max() <= 1e-4


def test_bad_targets_and_adapters_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"LoRA targets \['qq_proj'\] match no nn.Linear in Llama; "
                                         r"its linear layers end in: output, w1, w2, w3, wk, wo, wq, wv"):
        apply_lora(random_model(0), ["q_proj", "qq_proj"])
    with pytest.raises(ValueError, match="shares its weight with another module"):
        apply_lora(random_model(0, tie_embeddings=True), ["lm_head"])
    with pytest.raises(ValueError, match="no LoRA layers to save"):
        save_adapter(random_model(0), tmp_path / "none")
    save_adapter(adapted(dim=64), tmp_path / "a")
    with pytest.raises(CheckpointError, match=r"adapter_model.safetensors: checkpoint does not match(.|\n)*mis-shaped"):
        load_adapter(random_model(0, dim=32, hidden_dim=48), tmp_path / "a")  # another model's adapter
    cfg = json.loads((tmp_path / "a" / "adapter_config.json").read_text())
    (tmp_path / "a" / "adapter_config.json").write_text(json.dumps({**cfg, "use_dora": True}))
    with pytest.raises(CheckpointError, match="use_dora=True is not supported"):
        load_adapter(random_model(0), tmp_path / "a")
    (tmp_path / "a" / "adapter_config.json").write_text(json.dumps({**cfg, "target_modules": ["nope"]}))
    with pytest.raises(CheckpointError, match=r"target_modules \['nope'\] match no linear layer"):
        load_adapter(random_model(0), tmp_path / "a")
    (tmp_path / "a" / "adapter_model.safetensors").write_bytes(b"truncated")
    (tmp_path / "a" / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="unreadable safetensors"):
        load_adapter(random_model(0), tmp_path / "a")
    with pytest.raises(ValueError, match="rank r must be a positive int"):
        apply_lora(random_model(0), ["wq"], r=0)
