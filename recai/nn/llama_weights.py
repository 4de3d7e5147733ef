"""Checkpoint formats for `recai.nn.llama`: HF safetensors directories, GGUF files, llama2.c `.bin`.

Each format is an explicit name map onto our module names ({} stands for the layer index). Every
loader checks the tensors it found against the model it builds and raises CheckpointError listing
what is missing, unexpected or mis-shaped: a model is never returned half random.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

from recai.errors import CheckpointError
from recai.nn.checkpoint import atomic_write, check_state, invert, map_name, read_safetensors, safetensors_files
from recai.nn.llama import Llama, LlamaConfig, rope_tables
from recai.nn.lora import merged_state_dict

# HF LlamaForCausalLM name → ours.
HF_TO_OURS = {
    "model.embed_tokens.weight": "tok_embeddings.weight",
    "model.norm.weight": "norm.weight",
    "lm_head.weight": "output.weight",
    "model.layers.{}.input_layernorm.weight": "layers.{}.attention_norm.weight",
    "model.layers.{}.post_attention_layernorm.weight": "layers.{}.ffn_norm.weight",
    "model.layers.{}.self_attn.q_proj.weight": "layers.{}.attention.wq.weight",
    "model.layers.{}.self_attn.k_proj.weight": "layers.{}.attention.wk.weight",
    "model.layers.{}.self_attn.v_proj.weight": "layers.{}.attention.wv.weight",
    "model.layers.{}.self_attn.o_proj.weight": "layers.{}.attention.wo.weight",
    "model.layers.{}.self_attn.q_proj.bias": "layers.{}.attention.wq.bias",
    "model.layers.{}.self_attn.k_proj.bias": "layers.{}.attention.wk.bias",
    "model.layers.{}.self_attn.v_proj.bias": "layers.{}.attention.wv.bias",
    "model.layers.{}.self_attn.o_proj.bias": "layers.{}.attention.wo.bias",
    "model.layers.{}.mlp.gate_proj.weight": "layers.{}.feed_forward.w1.weight",
    "model.layers.{}.mlp.up_proj.weight": "layers.{}.feed_forward.w3.weight",
    "model.layers.{}.mlp.down_proj.weight": "layers.{}.feed_forward.w2.weight",
}

# GGUF (llama.cpp) name → ours. Q and K rows are stored in the interleaved-pair RoPE layout.
GGUF_TO_OURS = {
    "token_embd.weight": "tok_embeddings.weight",
    "output_norm.weight": "norm.weight",
    "output.weight": "output.weight",
    "blk.{}.attn_norm.weight": "layers.{}.attention_norm.weight",
    "blk.{}.ffn_norm.weight": "layers.{}.ffn_norm.weight",
    "blk.{}.attn_q.weight": "layers.{}.attention.wq.weight",
    "blk.{}.attn_k.weight": "layers.{}.attention.wk.weight",
    "blk.{}.attn_v.weight": "layers.{}.attention.wv.weight",
    "blk.{}.attn_output.weight": "layers.{}.attention.wo.weight",
    "blk.{}.attn_q.bias": "layers.{}.attention.wq.bias",
    "blk.{}.attn_k.bias": "layers.{}.attention.wk.bias",
    "blk.{}.attn_v.bias": "layers.{}.attention.wv.bias",
    "blk.{}.ffn_gate.weight": "layers.{}.feed_forward.w1.weight",
    "blk.{}.ffn_up.weight": "layers.{}.feed_forward.w3.weight",
    "blk.{}.ffn_down.weight": "layers.{}.feed_forward.w2.weight",
}


def unpermute_rope_rows(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Interleaved-pair RoPE row order (Meta, GGUF, llama2.c) → rotate-half order (HF, ours).

    Within each head, rows come as (x0, y0, x1, y1, ...); rotate-half wants (x0, x1, ..., y0, y1, ...).
    Works for weights (rows, cols) and biases (rows,).
    """
    rows = w.shape[0]
    hd = rows // n_heads
    return w.reshape(n_heads, hd // 2, 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


# ---- shared: check tensors against the model and assign them ------------------------------
def build_model(cfg: LlamaConfig, state: dict[str, torch.Tensor], source: Path, dtype, device) -> Llama:
    """Create the model without initialising weights, check `state` against it, assign it."""
    with torch.device("meta"):
        model = Llama(cfg)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if cfg.tie_embeddings:
        expected.pop("output.weight")
    check_state(expected, state, source)
    state = {k: v.to(dtype=dtype, device=device) for k, v in state.items()}
    if cfg.tie_embeddings:
        state["output.weight"] = state["tok_embeddings.weight"]
    model.load_state_dict(state, strict=True, assign=True)
    if cfg.tie_embeddings:
        model.output.weight = model.tok_embeddings.weight
    # RoPE tables are derived, not stored: rebuild them for real on the target device.
    cos, sin = rope_tables(cfg, cfg.max_seq_len)
    model.rope_cos, model.rope_sin = cos.to(device), sin.to(device)
    return model.eval()


def load_llama(path: Path, dtype=torch.float32, device=None) -> Llama:
    """Dispatch on the checkpoint's form: HF directory, GGUF file (by magic) or llama2.c `.bin`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    if path.is_dir():
        return load_hf(path, dtype, device)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"GGUF":
        return load_gguf(path, dtype, device)
    if path.suffix == ".gguf":
        raise CheckpointError(f"{path}: not a GGUF file (magic {magic!r}, expected b'GGUF')")
    if path.suffix == ".safetensors" or path.name == "config.json":
        return load_hf(path.parent, dtype, device)
    return load_llama2c(path, dtype, device)


# ---- HF directory ---------------------------------------------------------------------------
def config_from_hf(hf: dict, source: Path) -> LlamaConfig:
    """LlamaConfig from an HF config.json dict (Llama, Mistral, Qwen2 and SmolLM model types)."""
    def need(key):
        if key not in hf:
            raise CheckpointError(f"{source}: config field {key!r} is missing")
        return hf[key]

    arch = hf.get("model_type", "llama")
    if arch not in ("llama", "mistral", "qwen2", "smollm", "smollm2"):
        raise CheckpointError(f"{source}: model_type {arch!r} is not a Llama-family decoder")
    rope = dict(hf.get("rope_parameters") or {})  # transformers >= 5 nests rope settings here
    scaling = hf.get("rope_scaling") or (rope if rope.get("rope_type") not in (None, "default") else None)
    attention_bias = bool(hf.get("attention_bias", False))
    known = {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size",
             "intermediate_size", "head_dim", "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters",
             "max_position_embeddings", "tie_word_embeddings", "attention_bias", "bos_token_id", "eos_token_id"}
    try:
        return LlamaConfig(
            dim=need("hidden_size"), n_layers=need("num_hidden_layers"), n_heads=need("num_attention_heads"),
            n_kv_heads=hf.get("num_key_value_heads"), vocab_size=need("vocab_size"),
            hidden_dim=need("intermediate_size"), head_dim=hf.get("head_dim"),
            norm_eps=hf.get("rms_norm_eps", 1e-6), rope_theta=hf.get("rope_theta", rope.get("rope_theta", 10000.0)),
            rope_scaling=scaling, max_seq_len=hf.get("max_position_embeddings", 2048),
            tie_embeddings=hf.get("tie_word_embeddings", False),
            qkv_bias=attention_bias or arch == "qwen2", o_bias=attention_bias,
            bos_id=hf.get("bos_token_id"), eos_id=_first(hf.get("eos_token_id")),
            extra={k: v for k, v in hf.items() if k not in known},
        )
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: inconsistent config: {e}") from e


def _first(x):
    return x[0] if isinstance(x, list) and x else x


def load_hf(directory: Path, dtype=torch.float32, device=None) -> Llama:
    cfg_path = directory / "config.json"
    if not cfg_path.exists():
        raise CheckpointError(f"{directory}: no config.json (expected an HF model directory)")
    try:
        hf = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{cfg_path}: invalid JSON: {e}") from e
    cfg = config_from_hf(hf, cfg_path)
    raw = read_safetensors(safetensors_files(directory))
    state = {}
    for name, t in raw.items():
        # Unmapped names are kept under a marker key so build_model reports them as unexpected.
        state[map_name(name, HF_TO_OURS) or f"<unmapped HF tensor> {name}"] = t
    if cfg.tie_embeddings:
        state.pop("output.weight", None)  # some tied checkpoints still store lm_head
    return build_model(cfg, state, directory, dtype, device)


def save_llama(model: Llama, directory: Path, tokenizer=None) -> None:
    """HF LlamaForCausalLM layout: config.json, generation_config.json, model.safetensors (+ tokenizer)."""
    from safetensors.torch import save_file

    cfg = model.cfg
    directory.mkdir(parents=True, exist_ok=True)
    ours_to_hf = invert(HF_TO_OURS)
    state = {}
    # LoRA adapters, if any, are folded in: this writes the plain model (adapters: lora_peft.save_adapter).
    for name, t in merged_state_dict(model).items():
        if cfg.tie_embeddings and name == "output.weight":
            continue
        state[map_name(name, ours_to_hf)] = t.detach().contiguous().cpu()
    if cfg.qkv_bias and not cfg.o_bias:
        # HF Llama only knows attention_bias for all four projections: give o_proj a zero bias.
        for i in range(cfg.n_layers):
            state[f"model.layers.{i}.self_attn.o_proj.bias"] = torch.zeros(cfg.dim, dtype=model.norm.weight.dtype)
    hf = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": cfg.dim, "num_hidden_layers": cfg.n_layers, "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads, "vocab_size": cfg.vocab_size, "intermediate_size": cfg.hidden_dim,
        "head_dim": cfg.head_dim, "rms_norm_eps": cfg.norm_eps, "rope_theta": cfg.rope_theta,
        "rope_scaling": cfg.rope_scaling, "max_position_embeddings": cfg.max_seq_len,
        "tie_word_embeddings": cfg.tie_embeddings, "attention_bias": cfg.qkv_bias or cfg.o_bias,
        "mlp_bias": False, "hidden_act": "silu", "bos_token_id": cfg.bos_id, "eos_token_id": cfg.eos_id,
        "torch_dtype": str(model.norm.weight.dtype).removeprefix("torch."),
    }
    atomic_write(directory / "config.json", json.dumps(hf, indent=2).encode())
    gen = {"bos_token_id": cfg.bos_id, "eos_token_id": cfg.eos_id}
    atomic_write(directory / "generation_config.json", json.dumps(gen, indent=2).encode())
    tmp = directory / ".model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, directory / "model.safetensors")
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)


# ---- GGUF -----------------------------------------------------------------------------------
def config_from_gguf(meta: dict, source: Path, n_vocab_rows: int | None) -> LlamaConfig:
    arch = meta.get("general.architecture")
    if arch not in ("llama", "qwen2"):
        raise CheckpointError(f"{source}: general.architecture {arch!r} is not supported (llama, qwen2)")

    def need(key):
        if f"{arch}.{key}" not in meta:
            raise CheckpointError(f"{source}: metadata key {arch}.{key!r} is missing")
        return meta[f"{arch}.{key}"]

    dim, n_heads = int(need("embedding_length")), int(need("attention.head_count"))
    head_dim = int(meta.get(f"{arch}.rope.dimension_count", dim // n_heads))
    scaling = None
    if meta.get(f"{arch}.rope.scaling.type") == "linear":
        scaling = {"rope_type": "linear", "factor": float(meta[f"{arch}.rope.scaling.factor"])}
    vocab = meta.get(f"{arch}.vocab_size") or n_vocab_rows or len(meta.get("tokenizer.ggml.tokens", []))
    return LlamaConfig(
        dim=dim, n_layers=int(need("block_count")), n_heads=n_heads,
        n_kv_heads=int(meta.get(f"{arch}.attention.head_count_kv", n_heads)), vocab_size=int(vocab),
        hidden_dim=int(need("feed_forward_length")), head_dim=head_dim,
        norm_eps=float(meta.get(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)),
        rope_theta=float(meta.get(f"{arch}.rope.freq_base", 10000.0)), rope_scaling=scaling,
        max_seq_len=int(meta.get(f"{arch}.context_length", 2048)), tie_embeddings=False,
        qkv_bias=arch == "qwen2", bos_id=meta.get("tokenizer.ggml.bos_token_id"),
        eos_id=meta.get("tokenizer.ggml.eos_token_id"),
    )


def load_gguf(path: Path, dtype=torch.float32, device=None) -> Llama:
    from recai.nn.gguf import read_gguf

    g = read_gguf(path)
    if "rope_freqs.weight" in g.tensors:
        raise CheckpointError(f"{path}: per-dimension RoPE frequency factors (rope_freqs.weight, Llama-3.1 "
                              f"style GGUF) are not supported yet; convert the HF checkpoint instead")
    emb = g.tensors.get("token_embd.weight")
    cfg = config_from_gguf(g.metadata, path, emb.shape[0] if emb else None)
    cfg.tie_embeddings = "output.weight" not in g.tensors
    # llama.cpp's llama converter stores Q/K in the interleaved-pair layout; qwen2 keeps rotate-half.
    permute = g.metadata.get("general.architecture") == "llama"
    state = {}
    for name in g.tensors:
        ours = map_name(name, GGUF_TO_OURS)
        if ours is None:
            state[f"<unmapped GGUF tensor> {name}"] = torch.empty(0)
            continue
        t = g.tensor(name)
        if permute and ".attention.wq." in ours:
            t = unpermute_rope_rows(t, cfg.n_heads)
        elif permute and ".attention.wk." in ours:
            t = unpermute_rope_rows(t, cfg.n_kv_heads)
        state[ours] = t
    return build_model(cfg, state, path, dtype, device)


# ---- llama2.c legacy v0 ---------------------------------------------------------------------
def load_llama2c(path: Path, dtype=torch.float32, device=None) -> Llama:
    """llama2.c "legacy v0" checkpoint: 7 int32 header, then fp32 tensors in a fixed order."""
    data = path.read_bytes()
    if len(data) < 28:
        raise CheckpointError(f"{path}: {len(data)} bytes is too short for a llama2.c header (28 bytes)")
    if data[:4] == b"ak42":
        raise CheckpointError(f"{path}: llama2.c version 1/2 export; only the legacy v0 format is supported")
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    if min(dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len) <= 0 or dim % n_heads:
        raise CheckpointError(f"{path}: implausible llama2.c header dim={dim} hidden_dim={hidden} "
                              f"n_layers={n_layers} n_heads={n_heads} n_kv_heads={n_kv_heads} "
                              f"vocab_size={vocab} seq_len={seq_len} (not a llama2.c .bin?)")
    hd, kv = dim // n_heads, n_kv_heads * (dim // n_heads)
    L = n_layers
    shapes = [("tok_embeddings", (vocab, dim)), ("attention_norm", (L, dim)), ("wq", (L, dim, dim)),
              ("wk", (L, kv, dim)), ("wv", (L, kv, dim)), ("wo", (L, dim, dim)), ("ffn_norm", (L, dim)),
              ("w1", (L, hidden, dim)), ("w2", (L, dim, hidden)), ("w3", (L, hidden, dim)), ("norm", (dim,)),
              ("freq_cis", (2, seq_len, hd // 2))]  # precomputed RoPE tables: not needed, skipped
    if not shared:
        shapes.append(("output", (vocab, dim)))
    n_floats = sum(torch.Size(s).numel() for _, s in shapes)
    if len(data) != 28 + 4 * n_floats:
        raise CheckpointError(f"{path}: file has {len(data)} bytes but its header implies {28 + 4 * n_floats} "
                              f"(truncated, or header fields wrong)")
    flat = torch.frombuffer(bytearray(data[28:]), dtype=torch.float32)
    parts, off = {}, 0
    for name, shape in shapes:
        n = torch.Size(shape).numel()
        parts[name] = flat[off:off + n].view(shape)
        off += n
    cfg = LlamaConfig(dim=dim, n_layers=L, n_heads=n_heads, n_kv_heads=n_kv_heads, vocab_size=vocab,
                      hidden_dim=hidden, norm_eps=1e-5, max_seq_len=seq_len, tie_embeddings=shared,
                      bos_id=1, eos_id=2)
    state = {"tok_embeddings.weight": parts["tok_embeddings"], "norm.weight": parts["norm"]}
    per_layer = {"attention_norm": "attention_norm.weight", "ffn_norm": "ffn_norm.weight",
                 "wq": "attention.wq.weight", "wk": "attention.wk.weight", "wv": "attention.wv.weight",
                 "wo": "attention.wo.weight", "w1": "feed_forward.w1.weight", "w2": "feed_forward.w2.weight",
                 "w3": "feed_forward.w3.weight"}
    for i in range(L):
        for src, dst in per_layer.items():
            t = parts[src][i]
            if src == "wq":
                t = unpermute_rope_rows(t, n_heads)
            elif src == "wk":
                t = unpermute_rope_rows(t, n_kv_heads)
            state[f"layers.{i}.{dst}"] = t
    if not shared:
        state["output.weight"] = parts["output"]
    return build_model(cfg, state, path, dtype, device)
