"""The compiled CPU decode step returns the Python path's logits bit for bit, and steps aside
whenever it could not (hooks, LoRA, autograd, out-of-range positions)."""
import shutil

import pytest
import torch

from recai.generation import generate
from recai.nn import cpu_decode
from recai.nn.llama import Llama, LlamaConfig
from recai.nn.lora import apply_lora

pytestmark = pytest.mark.skipif(
    not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")), reason="no C++ compiler")

CONFIGS = {
    "mha-tied": dict(n_heads=4, n_kv_heads=4, tie_embeddings=True),
    "gqa-untied": dict(n_heads=4, n_kv_heads=2, tie_embeddings=False),
    "mqa-qkv-bias": dict(n_heads=4, n_kv_heads=1, qkv_bias=True, o_bias=True),
    "gqa-llama3-rope": dict(n_heads=8, n_kv_heads=2, rope_scaling={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 16}),
}


def tiny(dtype=torch.float32, **kw) -> Llama:
    torch.manual_seed(0)
    cfg = LlamaConfig(dim=64, n_layers=3, vocab_size=97, hidden_dim=96, max_seq_len=64, **kw)
    model = Llama(cfg).to(dtype).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
        for layer in model.layers:  # norm gains near 1, as in trained models
            layer.attention_norm.weight.add_(1)
            layer.ffn_norm.weight.add_(1)
        model.norm.weight.add_(1)
    return model


@pytest.fixture
def compiled_calls(monkeypatch):
    """Counts calls into the compiled operator (building it first if this process has not)."""
    op = cpu_decode.load()
    if op is None:
        pytest.fail(f"the compiled decode step did not build: {cpu_decode.why_not()}")
    calls = []

    def counting(*args):
        calls.append(args[0].shape[0])
        return op(*args)

    monkeypatch.setitem(cpu_decode._state, "op", counting)
    return calls


def decode(model, prompt, steps, compiled: bool, monkeypatch, attention_mask=None):
    """Prefill `prompt` (B, P), then `steps` greedy single-token steps; the logits of every step."""
    monkeypatch.setenv("RECAI_CPU_DECODE", "1" if compiled else "0")
    B, P = prompt.shape
    out = []
    with torch.inference_mode():
        caches = model.new_caches(B, P + steps)
        am = None if attention_mask is None else attention_mask[:, :P]
        logits = model(prompt, caches=caches, pos=0, attention_mask=am, last_only=True)[:, -1]
        for i in range(steps):
            tok = logits.argmax(-1, keepdim=True)
            am = None if attention_mask is None else attention_mask[:, :P + i + 1]
            logits = model(tok, caches=caches, pos=P + i, attention_mask=am, last_only=True)[:, -1]
            out.append(logits)
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_compiled_step_is_bit_identical(name, batch, dtype, compiled_calls, monkeypatch):
    model = tiny(dtype, **CONFIGS[name])
    prompt = torch.randint(0, 97, (batch, 5), generator=torch.Generator().manual_seed(1))
    ref = decode(model, prompt, 8, False, monkeypatch)
    assert not compiled_calls
    got = decode(model, prompt, 8, True, monkeypatch)
    assert compiled_calls == [batch] * 8  # every step went through the compiled operator
    for r, g in zip(ref, got):
        assert torch.equal(r, g)


def test_left_padded_batch_is_bit_identical(compiled_calls, monkeypatch):
    model = tiny(**CONFIGS["gqa-untied"])
    prompt = torch.randint(1, 97, (3, 6), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(3, 6 + 7, dtype=torch.long)
    mask[0, :3] = 0  # rows 0 and 1 are left-padded: rotary positions and attention keys differ per row
    mask[1, :1] = 0
    ref = decode(model, prompt, 7, False, monkeypatch, attention_mask=mask)
    got = decode(model, prompt, 7, True, monkeypatch, attention_mask=mask)
    assert len(compiled_calls) == 7
    for r, g in zip(ref, got):
        assert torch.equal(r, g)


def test_generate_uses_it_and_matches(compiled_calls, monkeypatch):
    model = tiny(**CONFIGS["mha-tied"])
    prompts = [[1, 5, 9], [1, 7]]  # ragged: generate() left-pads and passes a mask
    monkeypatch.setenv("RECAI_CPU_DECODE", "0")
    ref = [g.tokens for g in generate(model, prompts, max_new_tokens=12)]
    monkeypatch.setenv("RECAI_CPU_DECODE", "1")
    got = [g.tokens for g in generate(model, prompts, max_new_tokens=12)]
    assert got == ref and len(compiled_calls) >= 11


def test_hooks_lora_and_autograd_take_the_python_path(compiled_calls, monkeypatch):
    model = tiny(**CONFIGS["gqa-untied"])
    prompt = torch.randint(0, 97, (1, 4), generator=torch.Generator().manual_seed(3))
    seen = []
    handle = model.layers[1].feed_forward.register_forward_hook(lambda m, i, o: seen.append(1))
    decode(model, prompt, 3, True, monkeypatch)
    assert not compiled_calls and len(seen) == 4  # the hook ran on the prefill and every step
    handle.remove()

    monkeypatch.setenv("RECAI_CPU_DECODE", "1")
    caches = model.new_caches(1, 8)
    with torch.no_grad():  # grad mode off is what counts, not whether parameters require grad
        model(prompt, caches=caches)
        model(prompt[:, :1], caches=caches, pos=4)
    assert len(compiled_calls) == 1
    caches = model.new_caches(1, 8)
    model(prompt, caches=caches)  # grad mode on: training-style call, Python path with autograd
    out = model(prompt[:, :1], caches=caches, pos=4)
    assert len(compiled_calls) == 1 and out.requires_grad

    lora = tiny(**CONFIGS["gqa-untied"])
    apply_lora(lora, targets=("wq", "wv"), r=2, alpha=4)
    ref = decode(lora, prompt, 3, False, monkeypatch)
    got = decode(lora, prompt, 3, True, monkeypatch)
    assert len(compiled_calls) == 1  # unchanged: LoRA linears have no fast layout
    assert all(torch.equal(r, g) for r, g in zip(ref, got))


def test_positions_past_the_cache_still_raise(compiled_calls, monkeypatch):
    model = tiny(**CONFIGS["mha-tied"])
    monkeypatch.setenv("RECAI_CPU_DECODE", "1")
    with torch.inference_mode():
        caches = model.new_caches(1, 4)
        model(torch.tensor([[1, 2, 3, 4]]), caches=caches)
        with pytest.raises(ValueError, match="KV cache overflow"):
            model(torch.tensor([[5]]), caches=caches, pos=4)
    assert not compiled_calls
