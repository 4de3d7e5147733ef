"""Llama-family decoder: Llama 1/2/3, Mistral-style GQA, SmolLM, Qwen2-style q/k/v bias.

Read top to bottom: config → RMSNorm, RoPE → KV cache → attention → MLP → block → model.
Checkpoint formats (HF safetensors, GGUF, llama2.c) are mapped onto these module names in
`recai.nn.llama_weights`; this file only knows the architecture.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from recai.nn import cpu_decode
from recai.nn.cpu_linear import fused_linear, joint_linear, linear


@dataclass
class LlamaConfig:
    dim: int = 576
    n_layers: int = 30
    n_heads: int = 9
    n_kv_heads: int | None = None  # None: same as n_heads (plain multi-head attention)
    vocab_size: int = 49152
    hidden_dim: int = 1536  # SwiGLU inner width
    head_dim: int | None = None  # None: dim // n_heads
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None  # HF form: {"rope_type": "llama3"|"linear", "factor": ..., ...}
    max_seq_len: int = 2048
    tie_embeddings: bool = True
    qkv_bias: bool = False  # Qwen2 puts a bias on the q/k/v projections
    o_bias: bool = False  # HF Llama's attention_bias=True also puts one on the output projection
    bos_id: int | None = 1
    eos_id: int | None = 2
    extra: dict = field(default_factory=dict)  # unrecognised HF config keys, kept for save_pretrained

    def __post_init__(self):
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.head_dim is None:
            if self.dim % self.n_heads:
                raise ValueError(f"dim={self.dim} is not divisible by n_heads={self.n_heads}")
            self.head_dim = self.dim // self.n_heads
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads={self.n_heads} is not a multiple of n_kv_heads={self.n_kv_heads}")

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        if x.dtype == torch.float32:
            # torch's fused kernel: the same arithmetic bit for bit in fp32, one call instead of
            # six (a decode step runs 61 of these).
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        # Normalise in fp32 and cast back before the gain, as the reference implementations do;
        # it keeps bf16/fp16 runs bit-compatible with them. The fused kernel without a gain is
        # that normalisation bit for bit, in one call instead of five.
        return self.weight * F.rms_norm(x.float(), self.weight.shape, None, self.eps).to(x.dtype)


def rope_inv_freq(cfg: LlamaConfig) -> torch.Tensor:
    """Inverse frequencies (head_dim/2,), with Llama-3 or linear context scaling applied."""
    hd = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    sc = cfg.rope_scaling
    if not sc:
        return inv_freq
    kind = sc.get("rope_type", sc.get("type"))
    if kind == "linear":
        return inv_freq / sc["factor"]
    if kind == "llama3":
        # Long wavelengths are slowed by `factor`, short ones kept, and the band between
        # is interpolated smoothly (Llama 3.1 paper, section 3 of the context-extension recipe).
        factor, lo, hi = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"]
        old_ctx = sc["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > old_ctx / lo, inv_freq / factor, inv_freq)
        smooth = (old_ctx / wavelen - lo) / (hi - lo)
        mid = (1 - smooth) * scaled / factor + smooth * scaled
        is_mid = (wavelen >= old_ctx / hi) & (wavelen <= old_ctx / lo)
        return torch.where(is_mid, mid, scaled)
    if kind in (None, "default"):
        return inv_freq
    raise ValueError(f"unsupported rope_scaling type {kind!r} (supported: llama3, linear)")


def rope_tables(cfg: LlamaConfig, n_pos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and signed-sin tables (n_pos, head_dim) for the rotate-half layout, fp32.

    The sine table carries the rotation's sign (-sin on the first half, +sin on the second) so that
    apply_rope swaps the halves without negating them.
    """
    freqs = torch.outer(torch.arange(n_pos, dtype=torch.float32), rope_inv_freq(cfg))
    return torch.cat([freqs, freqs], dim=-1).cos(), torch.cat([-freqs.sin(), freqs.sin()], dim=-1)


def apply_rope(x, cos, sin_signed):
    """x: (B, H, T, D); tables (B or 1, 1, T, D). Rotate-half layout: pairs are (i, i + D/2).

    x*cos + rotate_half(x)*sin, where rotate_half(x) = (-x2, x1) = (x2, x1) * sign.
    """
    d = x.shape[-1] // 2
    return torch.addcmul(x * cos, torch.cat([x[..., d:], x[..., :d]], dim=-1), sin_signed)


class KVCache(nn.Module):
    """Preallocated keys/values for incremental decoding: (B, n_kv_heads, max_len, head_dim) each."""

    def __init__(self, batch: int, max_len: int, n_kv_heads: int, head_dim: int, dtype, device=None):
        super().__init__()
        shape = (batch, n_kv_heads, max_len, head_dim)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    @property
    def max_len(self) -> int:
        return self.k.shape[2]

    def update(self, pos: int, k, v):
        """Write k/v (B, Hkv, T, D) at positions pos..pos+T and return the filled prefix of the cache."""
        end = pos + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache overflow: position {end} > cache length {self.max_len}")
        self.k[:, :, pos:end] = k
        self.v[:, :, pos:end] = v
        return self.k[:, :, :end], self.v[:, :, :end]


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * cfg.head_dim, bias=cfg.qkv_bias)
        self.wk = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=cfg.qkv_bias)
        self.wv = nn.Linear(cfg.dim, cfg.n_kv_heads * cfg.head_dim, bias=cfg.qkv_bias)
        self.wo = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.dim, bias=cfg.o_bias)

    def forward(self, x, cos, sin, mask, cache: KVCache | None, pos: int):
        B, T, _ = x.shape
        H, Hkv = self.n_heads, self.n_kv_heads
        qkv = joint_linear((self.wq, self.wk, self.wv), x).reshape(B, T, H + 2 * Hkv, self.head_dim).transpose(1, 2)
        # Queries and keys rotate as one tensor of H + Hkv heads: the same arithmetic in half the
        # calls, which matters when a decode step is dominated by per-call cost.
        qk = apply_rope(qkv[:, :H + Hkv], cos, sin)
        q, k, v = qk[:, :H], qk[:, H:], qkv[:, H + Hkv:]  # (B, H, T, D), (B, Hkv, T, D) x2
        if cache is not None:
            k, v = cache.update(pos, k, v)  # (B, Hkv, pos+T, D)
        # mask None means "plain causal over the whole key range" (T == keys) or "see all keys" (T == 1).
        causal = mask is None and T > 1
        gqa = self.n_kv_heads != self.n_heads
        if T == 1 and gqa:
            # Decoding: the G query heads that share a K/V head go through attention as G query rows
            # of that one head. Same arithmetic, but each cached K/V is read once, not G times
            # (several times faster on CPU, bf16 especially).
            G = self.n_heads // self.n_kv_heads
            y = F.scaled_dot_product_attention(q.reshape(B, self.n_kv_heads, G, self.head_dim), k, v, attn_mask=mask)
            y = y.reshape(B, self.n_heads, 1, self.head_dim)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=gqa)
        return linear(self.wo, y.transpose(1, 2).reshape(B, T, -1))


class FeedForward(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)  # gate
        self.w3 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)  # up
        self.w2 = nn.Linear(cfg.hidden_dim, cfg.dim, bias=False)  # down

    def forward(self, x):
        gate, up = fused_linear((self.w1, self.w3), x)
        return linear(self.w2, F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = FeedForward(cfg)

    def forward(self, x, cos, sin, mask, cache=None, pos=0):
        x = x + self.attention(self.attention_norm(x), cos, sin, mask, cache, pos)
        return x + self.feed_forward(self.ffn_norm(x))


class Llama(nn.Module):
    """Decoder-only transformer.

    Inference: `model(tokens, caches=model.new_caches(B, L), pos=p)` feeds tokens (B, T) at cache
    positions p..p+T. Training: `model(tokens, attention_mask=m)` with no caches; set
    `model.activation_checkpointing = True` to trade compute for memory.
    """

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        cos, sin = rope_tables(cfg, cfg.max_seq_len)
        self.register_buffer("rope_cos", cos, persistent=False)  # (max_seq_len, head_dim)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.activation_checkpointing = False

    # ---- caches and masks -------------------------------------------------------------------
    def new_caches(self, batch: int, max_len: int | None = None, dtype=None, device=None) -> list[KVCache]:
        """One preallocated KVCache per layer, sized for `max_len` positions (default: max_seq_len)."""
        cfg, ref = self.cfg, self.tok_embeddings.weight
        max_len = max_len or cfg.max_seq_len
        dtype, device = dtype or ref.dtype, device or ref.device
        return [KVCache(batch, max_len, cfg.n_kv_heads, cfg.head_dim, dtype, device) for _ in range(cfg.n_layers)]

    def _rope(self, positions, dtype):
        """positions: (T,) shared or (B, T) per row → cos/sin shaped (1|B, 1, T, D) for broadcasting."""
        cos, sin = self.rope_cos[positions].to(dtype), self.rope_sin[positions].to(dtype)
        if positions.dim() == 1:
            return cos[None, None], sin[None, None]
        return cos[:, None], sin[:, None]

    @staticmethod
    def padded_positions(attention_mask, pos: int, T: int):
        """Rotary positions (B, T) of cache slots pos..pos+T that count real tokens only, as HF's generate() does."""
        return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, pos:pos + T]

    @staticmethod
    def _mask(key_mask, T: int, pos: int, device):
        """Boolean (B|1, 1, T, pos+T) mask: causal, keys limited to `key_mask` (B, pos+T) when given.

        A query may always see itself, so rows belonging to padding never become all-masked
        (that would turn into NaN inside softmax); real tokens are unaffected since their own key is valid.
        """
        S = pos + T
        q_idx = torch.arange(pos, S, device=device)[:, None]
        k_idx = torch.arange(S, device=device)[None, :]
        mask = k_idx <= q_idx  # (T, S)
        if key_mask is None:
            return mask[None, None]
        mask = mask[None] & key_mask[:, None, :S].bool()
        return (mask | (k_idx == q_idx)[None])[:, None]

    # ---- forward ----------------------------------------------------------------------------
    def forward(self, tokens, *, caches: list[KVCache] | None = None, pos: int = 0, attention_mask=None,
                positions=None, last_only: bool = False, output_mask=None):
        """Logits for `tokens` (B, T).

        caches/pos: incremental decoding; tokens occupy cache positions pos..pos+T.
        attention_mask: (B, pos+T) with 1 for real tokens and 0 for padding (left or right);
            rotary positions then count real tokens only, like HF's generate().
        positions: explicit rotary positions, (T,) or (B, T); overrides the ones derived above.
        last_only: compute the output head for the last position only (saves work in generation).
        output_mask: (B, T) bool; the head runs only where it is True and logits come back as
            (n_true, vocab) in row-major order (training: only positions that have a target).
        Returns logits (B, T or 1, vocab) in the model's dtype.
        """
        if caches is not None and tokens.shape[1] == 1 and positions is None and output_mask is None:
            # A CPU inference decode step runs as one compiled call where it gives the same logits.
            logits = cpu_decode.step(self, tokens, caches, pos, attention_mask)
            if logits is not None:
                return logits
        x = self._trunk(tokens, caches, pos, attention_mask, positions)
        if last_only:
            x = x[:, -1:]
        if output_mask is not None:
            x = x[output_mask]  # (n, C)
        return linear(self.output, self.norm(x))  # (B, T, vocab) or (n, vocab)

    def hidden(self, tokens, attention_mask=None) -> torch.Tensor:
        """Final normalised hidden states (B, T, dim), no output head: what decoder embeddings
        (RepLLaMA-style last-token pooling) read. attention_mask as in `forward`."""
        return self.norm(self._trunk(tokens, None, 0, attention_mask, None))

    def _trunk(self, tokens, caches, pos, attention_mask, positions) -> torch.Tensor:
        """Embeddings through every block: hidden states (B, T, C) before the final norm."""
        B, T = tokens.shape
        dev = tokens.device
        # Derived positions never exceed pos + T - 1, so this check needs no device sync;
        # explicit positions are rare enough to pay for one.
        top = pos + T - 1 if positions is None else int(positions.max())
        if top >= self.rope_cos.shape[0]:
            raise ValueError(f"position {top} is beyond max_seq_len={self.cfg.max_seq_len}")
        if positions is None:
            if attention_mask is None:
                positions = torch.arange(pos, pos + T, device=dev)
            else:
                positions = self.padded_positions(attention_mask, pos, T)
        mask = None
        if attention_mask is not None:
            mask = self._mask(attention_mask, T, pos, dev)
        elif T > 1 and pos > 0:
            mask = self._mask(None, T, pos, dev)  # prefill continuing an existing cache
        x = self.tok_embeddings(tokens)  # (B, T, C)
        cos, sin = self._rope(positions, x.dtype)
        for i, layer in enumerate(self.layers):
            cache = caches[i] if caches is not None else None
            if self.activation_checkpointing and self.training and cache is None:
                x = checkpoint(layer, x, cos, sin, mask, use_reentrant=False)
            else:
                x = layer(x, cos, sin, mask, cache, pos)
        return x

    # ---- loading and saving -----------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path, dtype=torch.float32, device=None) -> "Llama":
        """Load an HF directory (config.json + safetensors), a `.gguf` file or a llama2.c `.bin`.

        Raises recai.errors.CheckpointError naming the file and the missing, unexpected or
        mis-shaped tensors; a model is never returned with randomly initialised weights.
        """
        from recai.nn.llama_weights import load_llama

        return load_llama(Path(path), dtype=dtype, device=device)

    def save_pretrained(self, directory, tokenizer=None) -> None:
        """Write config.json + model.safetensors in HF's LlamaForCausalLM layout (and the tokenizer)."""
        from recai.nn.llama_weights import save_llama

        save_llama(self, Path(directory), tokenizer=tokenizer)

    def num_params(self) -> int:
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values())
