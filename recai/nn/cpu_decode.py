"""A whole Llama decode step as one C++ call on CPU (recai/nn/csrc/decode_step.cpp).

Why: a batch-1 decode step of SmolLM2-135M streams 538 MB of fp32 weights in about 19 ms here, and
spends another ~10 ms on a few thousand small Python-level calls (norms, rotary, cache writes,
attention, views). The C++ step makes the same ATen calls in the same order without the
interpreter in between, so it returns the Python path's logits bit for bit in a fraction of that
overhead (bench/decode.py has the figures).

How: the source is compiled with recai's other CPU operators (recai/nn/cpu_ops.py: once per
torch version and CPU, with the system C++ compiler, into `$RECAI_HOME/build/`). Where there is no
compiler, the build fails, or RECAI_CPU_DECODE=0, decoding stays on the Python path, which gives
the same answer.

When: only for plain inference steps the C++ code reproduces exactly — one new token per row, CPU,
autograd off, fp32 or bf16, every block made of recai's own modules with no hooks, and every matmul
on one of `recai.nn.cpu_linear`'s fast layouts (so a LoRA-wrapped or otherwise swapped linear makes
the step fall back). `step()` returns None whenever it does not apply.
"""
from __future__ import annotations

import os
import sys

import torch
from torch.nn.modules import module as nn_module

from recai.nn import cpu_linear, cpu_ops

# "op": the loaded operator; "failed" / "error": it raised once in this process, so it stays off, and why
_state: dict = {}


def enabled() -> bool:
    """RECAI_CPU_DECODE is not 0 and the compiled step has not failed in this process."""
    return os.environ.get("RECAI_CPU_DECODE", "1") != "0" and "failed" not in _state


def load():
    """The compiled operator (building recai's CPU operators on first use), or None where it cannot be had."""
    if "op" not in _state and cpu_ops.load():
        _state["op"] = torch.ops.recai.decode_step
    return _state.get("op")


def why_not() -> str | None:
    """Why the compiled step is unavailable in this process: the build's error, or the step's own failure."""
    return _state.get("error") or cpu_ops.why_not()


def step(model, tokens, caches, pos: int, attention_mask) -> torch.Tensor | None:
    """Logits (B, 1, vocab) of one decode step of `model` through the compiled step, or None where
    it does not apply (see the module docstring); the caller then runs the Python path.

    tokens: (B, 1); caches: the model's KV caches, written at `pos`; attention_mask: (B, pos+1) or None.
    Whether the step applies, and the weight layouts it uses, are worked out on the first step of a
    set of caches at each batch size and kept with the caches (checking ~270 modules every step
    would cost a few percent of it): a model must not be changed (weights, modules, hooks) while a
    decode is using a set of caches, which generation, beam search and the CLI never do.
    """
    if not (enabled() and tokens.shape[1] == 1 and tokens.device.type == "cpu") or torch.is_grad_enabled():
        return None
    B = tokens.shape[0]
    args = _prepared(model, caches, B)
    # Positions past the tables or the cache take the Python path, which raises the errors.
    if args is None or pos >= model.rope_cos.shape[0] or pos >= caches[0].max_len:
        return None
    x = model.tok_embeddings(tokens[:, 0])  # (B, C): through the module, so an embedding hook still applies
    if attention_mask is None:
        # The same table rows the Python path gathers, taken as a slice.
        cos = model.rope_cos[pos:pos + 1].to(x.dtype)[None]  # (1, 1, D)
        sin = model.rope_sin[pos:pos + 1].to(x.dtype)[None]
        mask = None
    else:
        positions = model.padded_positions(attention_mask, pos, 1)
        cos, sin = (t[:, 0] for t in model._rope(positions, x.dtype))  # (B, 1, D)
        mask = model._mask(attention_mask, 1, pos, x.device)  # (B, 1, 1, pos+1)
    cfg = model.cfg
    try:
        logits = _state["op"](x, cos, sin, mask, *args, [c.k for c in caches], [c.v for c in caches], pos,
                              cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.norm_eps)
    except RuntimeError as e:
        # Something this torch build does differently (an operator's signature, say): decode on the
        # Python path from now on. It rewrites every cache entry at `pos`, so nothing half-written stays.
        _state["error"] = f"the compiled step failed ({e}); using the Python path"
        print(f"recai: {_state['error']}", file=sys.stderr, flush=True)
        _state["failed"] = True
        return None
    return logits[:, None]


def _prepared(model, caches, B: int):
    """The weight arguments for decoding `model` at batch B over `caches`, or None where the
    compiled step does not apply; worked out once per (caches, model, B, dtype) and kept on the
    first cache module."""
    if not caches:
        return None
    dtype = model.tok_embeddings.weight.dtype
    memo = caches[0].__dict__.setdefault("_recai_decode_step", {})
    key = (id(model), B, dtype)
    if key not in memo:
        ok = (len(caches) == len(model.layers) and all(c.k.shape[0] == B and c.k.dtype == dtype for c in caches)
              and cpu_linear.usable_for(torch.empty(B, model.cfg.dim, dtype=dtype)) and _plain(model))
        args = _weights(model, B, dtype) if ok else None
        memo[key] = args if args is not None and load() is not None else None
    return memo[key]


def _plain(model) -> bool:
    """Every block and norm is recai's own class with no hooks, so the C++ code is what they would do."""
    from recai.nn.llama import Attention, Block, FeedForward, RMSNorm

    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return False
    if type(model.norm) is not RMSNorm or model.norm._forward_hooks or model.norm._forward_pre_hooks:
        return False
    for layer in model.layers:
        if not (type(layer) is Block and type(layer.attention) is Attention and type(layer.feed_forward) is FeedForward
                and type(layer.attention_norm) is RMSNorm and type(layer.ffn_norm) is RMSNorm):
            return False
        for m in (layer, layer.attention, layer.feed_forward, layer.attention_norm, layer.ffn_norm):
            if m._forward_hooks or m._forward_pre_hooks:
                return False
    return True


def _weights(model, rows: int, dtype):
    """(weights, biases, kinds) in decode_step.cpp's slot order, or None if a matmul has no fast layout."""
    weights, biases, kinds = [], [], []

    def norm(mod):
        weights.append(mod.weight)
        biases.append(None)
        kinds.append(-1)

    def matmul(*mods) -> bool:
        lay = cpu_linear.layout(mods, rows, dtype)
        if lay is None:
            return False
        kind, w, b = lay
        weights.append(w)
        biases.append(b)
        kinds.append(kind)
        return True

    for layer in model.layers:
        a, f = layer.attention, layer.feed_forward
        norm(layer.attention_norm)
        if not matmul(a.wq, a.wk, a.wv) or not matmul(a.wo):
            return None
        norm(layer.ffn_norm)
        if not matmul(f.w1, f.w3) or not matmul(f.w2):
            return None
    norm(model.norm)
    if not matmul(model.output):
        return None
    return weights, biases, kinds
