"""Small-batch CPU inference through oneDNN's prepacked linear weights.

A decode step multiplies a handful of activation rows by every weight matrix once, so its speed is
the speed at which weights stream from memory. PyTorch's default CPU path (a BLAS gemv/gemm on the
plain row-major weight) reaches well under the machine's read bandwidth for these shapes, and its
bf16 path is slower still; oneDNN's blocked ("prepacked") weight layout with a batch-size hint
streams far better. The packed copy is made once per weight and re-made if the weight changes (its
version counter moves), so training, LoRA merges and dtype changes stay correct.

Only used when: CPU tensors, autograd off (inference), a plain nn.Linear, at most MAX_ROWS rows,
and the oneDNN ops exist in this torch build. Everything else goes through `module(x)` unchanged.
Set RECAI_CPU_PACKED=0 to turn it off.
"""
from __future__ import annotations

import os

import torch
from torch import nn

MAX_ROWS = 16  # decode-sized batches; prefill-sized inputs use the ordinary path
PACK_HINT = 8  # batch-size hint for the blocked layout; measured good for 1..16 rows

_enabled = os.environ.get("RECAI_CPU_PACKED", "1") != "0" and torch.backends.mkldnn.is_available()


def _usable(x: torch.Tensor, mods) -> bool:
    return (_enabled and x.device.type == "cpu" and not torch.is_grad_enabled()
            and x.dtype in (torch.float32, torch.bfloat16) and x.numel() // x.shape[-1] <= MAX_ROWS
            and all(type(m) is nn.Linear for m in mods))


def _packed(mods: tuple[nn.Linear, ...]):
    """The prepacked (concatenated) weight and bias of `mods`, cached on the first module."""
    key = tuple((m.weight.data_ptr(), m.weight._version, m.weight.dtype) for m in mods)
    cached = getattr(mods[0], "_recai_packed", None)
    if cached is None or cached[0] != key:
        w = torch.cat([m.weight.detach() for m in mods]) if len(mods) > 1 else mods[0].weight.detach()
        b = None
        if mods[0].bias is not None:
            b = torch.cat([m.bias.detach() for m in mods]) if len(mods) > 1 else mods[0].bias.detach()
        cached = (key, torch.ops.mkldnn._reorder_linear_weight(w, PACK_HINT), b)
        mods[0]._recai_packed = cached
    return cached[1], cached[2]


def linear(mod: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """`mod(x)`, through a prepacked weight when that is both possible and faster."""
    return fused_linear((mod,), x)[0]


def fused_linear(mods: tuple[nn.Linear, ...], x: torch.Tensor) -> list[torch.Tensor]:
    """`[m(x) for m in mods]` for linears sharing one input, as a single prepacked matmul when possible.

    One bigger matrix streams better than several small ones and costs one call instead of many
    (q/k/v projections; gate and up projections). The modules must agree on having a bias.
    """
    global _enabled
    if not _usable(x, mods):
        return [m(x) for m in mods]
    rows = x.numel() // x.shape[-1]
    try:
        w, b = _packed(mods)
        y = torch.ops.mkldnn._linear_pointwise(x.reshape(rows, -1), w, b, "none", [], "")
    except (RuntimeError, AttributeError):
        # A torch build without these oneDNN ops: fall back for good.
        _enabled = False
        return [m(x) for m in mods]
    y = y.view(*x.shape[:-1], y.shape[-1])
    return list(y.split([m.out_features for m in mods], dim=-1)) if len(mods) > 1 else [y]
