"""Our decoder against transformers.LlamaForCausalLM on random tiny configs, through save_pretrained."""
import pytest
import torch

from recai.nn.llama import Llama, LlamaConfig

transformers = pytest.importorskip("transformers")

CONFIGS = {
    "mha_tied": dict(n_heads=4, n_kv_heads=4, tie_embeddings=True),
    "gqa_untied": dict(n_heads=4, n_kv_heads=2, tie_embeddings=False),
    "mqa_qkv_bias": dict(n_heads=4, n_kv_heads=1, qkv_bias=True),
    "llama3_rope_scaling": dict(n_heads=4, n_kv_heads=2, rope_theta=500000.0, max_seq_len=256,
                                rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                              "high_freq_factor": 4.0, "original_max_position_embeddings": 32}),
    "linear_rope_scaling": dict(n_heads=4, n_kv_heads=4, rope_scaling={"rope_type": "linear", "factor": 2.0}),
}


def random_model(seed: int, **overrides) -> Llama:
    torch.manual_seed(seed)
    args = dict(dim=64, n_layers=2, vocab_size=97, hidden_dim=96, max_seq_len=128, norm_eps=1e-5)
    args.update(overrides)
    model = Llama(LlamaConfig(**args))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)  # non-trivial norm gains, so a missed gain would show
            elif name.endswith("bias"):
                p.normal_(0, 0.1)
    return model.eval()


@pytest.mark.parametrize("name", CONFIGS)
def test_logits_match_transformers(name, tmp_path):
    model = random_model(0, **CONFIGS[name])
    model.save_pretrained(tmp_path)
    ref = transformers.LlamaForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    tokens = torch.randint(0, model.cfg.vocab_size, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(tokens)
        theirs = ref(tokens).logits
    assert (ours - theirs).abs().max().item() <= 1e-4


@pytest.mark.parametrize("name", CONFIGS)
def test_cached_decode_equals_full_forward(name):
    model = random_model(1, **CONFIGS[name])
    tokens = torch.randint(0, model.cfg.vocab_size, (2, 50), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(tokens)
        caches = model.new_caches(2, 64)
        parts = [model(tokens[:, :30], caches=caches, pos=0)]
        for i in range(30, 50):  # 20 cached single-token steps
            parts.append(model(tokens[:, i:i + 1], caches=caches, pos=i))
    # Same fp32 bar as the transformers parity: only summation order differs between the two paths.
    assert (torch.cat(parts, dim=1) - full).abs().max().item() <= 1e-4


def test_left_padded_batch_matches_single_rows():
    model = random_model(2, n_heads=4, n_kv_heads=2)
    g = torch.Generator().manual_seed(3)
    rows = [torch.randint(0, 97, (n,), generator=g) for n in (12, 7, 3)]
    P = 12
    tokens = torch.zeros(3, P, dtype=torch.long)
    mask = torch.zeros(3, P, dtype=torch.long)
    for i, r in enumerate(rows):
        tokens[i, P - len(r):], mask[i, P - len(r):] = r, 1
    with torch.no_grad():
        batched = model(tokens, attention_mask=mask)
        for i, r in enumerate(rows):
            alone = model(r[None])
            assert (batched[i, P - len(r):] - alone[0]).abs().max().item() <= 1e-4


def test_padding_mask_matches_transformers_training_path(tmp_path):
    model = random_model(3, n_heads=4, n_kv_heads=2, tie_embeddings=False)
    model.save_pretrained(tmp_path)
    ref = transformers.LlamaForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    tokens = torch.randint(0, 97, (2, 16), generator=torch.Generator().manual_seed(4))
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 11:] = 0  # right padding, as in training batches
    with torch.no_grad():
        ours = model(tokens, attention_mask=mask)
        theirs = ref(tokens, attention_mask=mask).logits
    assert (ours[0] - theirs[0]).abs().max().item() <= 1e-4
    assert (ours[1, :11] - theirs[1, :11]).abs().max().item() <= 1e-4


def test_activation_checkpointing_gives_same_gradients():
    model = random_model(4, n_heads=4, n_kv_heads=2).train()
    tokens = torch.randint(0, 97, (2, 20), generator=torch.Generator().manual_seed(5))
    grads = []
    for ckpt in (False, True):
        model.zero_grad()
        model.activation_checkpointing = ckpt
        model(tokens).logsumexp(-1).mean().backward()
        grads.append(model.layers[0].attention.wq.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_forward_close_to_fp32(dtype):
    model = random_model(5, n_heads=4, n_kv_heads=2)
    tokens = torch.randint(0, 97, (1, 24), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        ref = model(tokens)
        low = model.to(dtype)(tokens)
    assert low.dtype == dtype
    assert (low.float() - ref).abs().max().item() < 0.1 * ref.abs().max().item()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_rmsnorm_is_the_reference_formula_bit_for_bit(dtype):
    # RMSNorm runs torch's fused kernel; it must be exactly the formula the reference models use
    # (normalise in fp32, cast back, then the gain), or half-precision parity drifts.
    from recai.nn.llama import RMSNorm

    norm = RMSNorm(64, 1e-5)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(64, generator=g) + 0.5)
        norm.to(dtype)
        x = (torch.randn(3, 5, 64, generator=g) * torch.logspace(-3, 3, 64)).to(dtype)
        h = x.float()
        ref = norm.weight * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-5)).to(dtype)
        assert torch.equal(norm(x), ref)
