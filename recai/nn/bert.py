"""BERT-family encoder (BERT, MiniLM, and same-architecture checkpoints such as BGE and E5).

Read top to bottom: config → embeddings → attention → feed-forward → layer → encoder → pooling.
Post-norm blocks as in the original BERT: x = LayerNorm(x + Attention(x)), then
x = LayerNorm(x + FFN(x)). Q, K and V are one fused projection (the loader concatenates HF's three),
so a layer runs two matmuls fewer. Checkpoint loading lives in `recai.nn.bert_weights`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {
    "gelu": F.gelu,  # exact erf GELU, what BERT and MiniLM use
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}
POOLING = ("mean", "cls", "last", "max")


@dataclass
class BertConfig:
    vocab_size: int = 30522
    dim: int = 768  # HF hidden_size
    n_layers: int = 12
    n_heads: int = 12
    inner_dim: int = 3072  # HF intermediate_size
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    activation: str = "gelu"
    pad_token_id: int = 0
    head_dim: int = field(init=False)

    def __post_init__(self):
        if self.dim % self.n_heads:
            raise ValueError(f"dim={self.dim} is not divisible by n_heads={self.n_heads}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unsupported activation {self.activation!r}; supported: {sorted(ACTIVATIONS)}")
        self.head_dim = self.dim // self.n_heads


class Embeddings(nn.Module):
    """word + absolute position + token type, then LayerNorm (dropout is the identity at inference)."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.position = nn.Embedding(cfg.max_positions, cfg.dim)
        self.token_type = nn.Embedding(cfg.type_vocab_size, cfg.dim)
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.layer_norm_eps)

    def forward(self, ids: torch.Tensor, token_types: torch.Tensor | None) -> torch.Tensor:
        T = ids.shape[1]
        x = self.word(ids) + self.position.weight[:T]  # (B, T, C)
        if token_types is None:
            x = x + self.token_type.weight[0]  # all segment A, as tokenizers give single sentences
        else:
            x = x + self.token_type(token_types)
        return self.norm(x)


class Attention(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)  # rows: query, key, value
        self.out = nn.Linear(cfg.dim, cfg.dim)
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (B, H, T, D) each
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # mask (B, 1, 1, T): True = attend
        return self.norm(x + self.out(y.transpose(1, 2).reshape(B, T, C)))


class FeedForward(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.up = nn.Linear(cfg.dim, cfg.inner_dim)
        self.down = nn.Linear(cfg.inner_dim, cfg.dim)
        self.norm = nn.LayerNorm(cfg.dim, eps=cfg.layer_norm_eps)
        self.act = ACTIVATIONS[cfg.activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.down(self.act(self.up(x))))


class Layer(nn.Module):
    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.attention = Attention(cfg)
        self.ffn = FeedForward(cfg)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.ffn(self.attention(x, mask))


class Bert(nn.Module):
    """ids (B, T) [+ attention_mask (B, T), 1 = real token] → hidden states (B, T, dim).

        model = recai.nn.bert_weights.load_bert("path/to/minilm")
        h = model(ids, attention_mask)
        emb = pool(h, attention_mask, "mean", normalize=True)
    """

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.n_layers))

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_types: torch.Tensor | None = None) -> torch.Tensor:
        T = ids.shape[1]
        if T > self.config.max_positions:
            raise ValueError(f"sequence length {T} exceeds the model's {self.config.max_positions} positions; "
                             "truncate the input (Embedder does, to the model's max_seq_length)")
        x = self.embeddings(ids, token_types)
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            mask = attention_mask.bool()[:, None, None, :]  # padded keys are never attended to
        for layer in self.layers:
            x = layer(x, mask)
        return x


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None, mode: str = "mean",
         normalize: bool = False) -> torch.Tensor:
    """Sentence vectors (B, C) from hidden states (B, T, C).

    mode: "mean" over real tokens, "cls" the first token, "last" the last real token (right or left
    padding both work: the position comes from the mask), "max" over real tokens.
    normalize: L2-normalise each vector (a zero vector stays zero).
    Raises ValueError for an unknown mode or a row with no real token.
    """
    if mode not in POOLING:
        raise ValueError(f"unknown pooling {mode!r}; choose from {POOLING}")
    B, T, _ = hidden.shape
    mask = torch.ones(B, T, dtype=torch.bool, device=hidden.device) if attention_mask is None else attention_mask.bool()
    counts = mask.sum(1)
    if bool((counts == 0).any()):
        raise ValueError(f"row {int((counts == 0).nonzero()[0])} has no real token (attention_mask all 0)")
    if mode == "mean":
        # Sum in float32: bf16 sums over hundreds of tokens lose digits.
        summed = (hidden.float() * mask[..., None]).sum(1)
        out = (summed / counts[:, None]).to(hidden.dtype)
    elif mode == "cls":
        out = hidden[:, 0]
    elif mode == "last":
        last = T - 1 - mask.flip(1).int().argmax(1)  # index of the last True in each row
        out = hidden[torch.arange(B, device=hidden.device), last]
    else:
        out = hidden.masked_fill(~mask[..., None], -math.inf).amax(1)
    return F.normalize(out, dim=-1) if normalize else out
