"""A whole Llama decode step as one C++ call on CPU (recai/nn/csrc/decode_step.cpp).

Why: a batch-1 decode step of SmolLM2-135M streams 538 MB of fp32 weights in about 19 ms here, and
spends another ~10 ms on a few thousand small Python-level calls (norms, rotary, cache writes,
attention, views). The C++ step makes the same ATen calls in the same order without the
interpreter in between, so it returns the Python path's logits bit for bit in a fraction of that
overhead (bench/decode.py has the figures).

How: the source is compiled once per torch version with the system C++ compiler into
`$RECAI_HOME/build/` (about 20 s, announced on stderr) and loaded with `torch.ops.load_library`.
Where there is no compiler, the build fails, or RECAI_CPU_DECODE=0, decoding stays on the Python
path, which gives the same answer.

When: only for plain inference steps the C++ code reproduces exactly — one new token per row, CPU,
autograd off, fp32 or bf16, every block made of recai's own modules with no hooks, and every matmul
on one of `recai.nn.cpu_linear`'s fast layouts (so a LoRA-wrapped or otherwise swapped linear makes
the step fall back). `step()` returns None whenever it does not apply.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch.nn.modules import module as nn_module

from recai.nn import cpu_linear

SOURCE = Path(__file__).with_name("csrc") / "decode_step.cpp"

_state: dict = {}  # "op": the loaded operator, or "error": why there is none (tried once per process)


def enabled() -> bool:
    """RECAI_CPU_DECODE is not 0 and the compiled step has not failed in this process."""
    return os.environ.get("RECAI_CPU_DECODE", "1") != "0" and "failed" not in _state


def library_path() -> Path:
    """Where the compiled step lives: keyed by the source, the torch build and the platform."""
    from recai.hub.files import cache_dir

    key = hashlib.sha256(SOURCE.read_bytes() + f"{torch.__version__}|{platform.machine()}|{sys.platform}".encode())
    return cache_dir() / "build" / f"decode_step-{key.hexdigest()[:16]}.so"


def build(target: Path, quiet: bool = False) -> Path:
    """Compile decode_step.cpp into `target` (written atomically). Raises RuntimeError saying why."""
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        raise RuntimeError("no C++ compiler found (install g++ or clang++, or set CXX)")
    torch_dir = Path(torch.__file__).parent
    flags = ["-O2", "-shared", "-fPIC", "-std=c++17",
             f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
             f"-I{torch_dir / 'include'}", f"-I{torch_dir / 'include' / 'torch' / 'csrc' / 'api' / 'include'}",
             "-w"]  # torch's headers warn under -std=c++17; their warnings are not ours to fix
    libs = [f"-L{torch_dir / 'lib'}", "-lc10", "-ltorch_cpu"]
    if sys.platform == "darwin":
        libs.append("-undefined dynamic_lookup")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    if not quiet:
        print(f"recai: compiling the CPU decode step once for torch {torch.__version__} (about 20 s) "
              f"into {target.parent}", file=sys.stderr, flush=True)
    try:
        done = subprocess.run([cxx, *flags, str(SOURCE), *libs, "-o", tmp], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{cxx} failed on {SOURCE}:\n{done.stderr[-2000:]}")
        os.replace(tmp, target)  # atomic: a concurrent process sees no file or a whole one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load():
    """The compiled operator, building it on first use; None (with the reason kept) where it cannot be had."""
    if "op" in _state or "error" in _state:
        return _state.get("op")
    try:
        path = library_path()
        if not path.exists():
            build(path)
        torch.ops.load_library(str(path))
        _state["op"] = torch.ops.recai.decode_step
    except (RuntimeError, OSError) as e:
        _state["error"] = str(e)
        print(f"recai: decoding without the compiled CPU step: {e}", file=sys.stderr, flush=True)
    return _state.get("op")


def why_not() -> str | None:
    """The reason the compiled step is unavailable in this process, once load() has failed."""
    return _state.get("error")


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
