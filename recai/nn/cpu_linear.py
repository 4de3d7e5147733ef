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


_DTYPES = (torch.float32, torch.bfloat16)


class _Packed:
    """The prepacked, concatenated weight of a group of linears, and what it was made from.

    It stays valid while the group holds the same modules with the same weight tensors at the same
    version; anything else (LoRA swapping a module in, load_state_dict, an optimizer step, .to())
    makes it stale and it is rebuilt. Groups that cannot be packed keep `weight=None`.
    """

    __slots__ = ("mods", "weights", "versions", "ptrs", "weight", "bias", "sizes")

    def __init__(self, mods):
        self.mods = mods
        self.weights = tuple(m._parameters.get("weight") for m in mods)
        self.versions = tuple(w._version for w in self.weights) if all(w is not None for w in self.weights) else ()
        self.ptrs = tuple(w.data_ptr() for w in self.weights) if self.versions else ()
        self.sizes = [w.shape[0] for w in self.weights] if self.versions else []
        self.weight = self.bias = None
        biases = [m._parameters.get("bias") for m in mods]
        packable = all(type(m) is nn.Linear for m in mods) and len({b is None for b in biases}) == 1
        if packable and self.versions:
            w = torch.cat([w.detach() for w in self.weights]) if len(mods) > 1 else self.weights[0].detach()
            self.weight = torch.ops.mkldnn._reorder_linear_weight(w, PACK_HINT)
            if biases[0] is not None:
                self.bias = torch.cat([b.detach() for b in biases]) if len(mods) > 1 else biases[0].detach()

    def valid_for(self, mods) -> bool:
        return (all(a is b for a, b in zip(mods, self.mods))
                and all(m._parameters.get("weight") is w for m, w in zip(mods, self.weights))
                and all(w._version == v for w, v in zip(self.weights, self.versions))
                and all(w.data_ptr() == p for w, p in zip(self.weights, self.ptrs)))  # `.data =` swaps


def linear(mod: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """`mod(x)`, through a prepacked weight when that is both possible and faster."""
    return fused_linear((mod,), x)[0]


def fused_linear(mods: tuple[nn.Linear, ...], x: torch.Tensor) -> list[torch.Tensor]:
    """`[m(x) for m in mods]` for linears sharing one input, as a single prepacked matmul when possible.

    One bigger matrix streams better than several small ones and costs one call instead of many
    (q/k/v projections; gate and up projections). This runs several times per layer per decoded
    token, so the cheap tests come first and the cache check avoids nn.Module attribute lookups.
    """
    global _enabled
    if not (_enabled and x.device.type == "cpu" and x.dtype in _DTYPES and x.numel() <= MAX_ROWS * x.shape[-1]
            and not torch.is_grad_enabled()):
        return [m(x) for m in mods]
    plan = mods[0].__dict__.get("_recai_packed")
    try:
        if plan is None or not plan.valid_for(mods):
            plan = _Packed(mods)
            mods[0].__dict__["_recai_packed"] = plan
        if plan.weight is None or plan.weight.dtype != x.dtype:
            return [m(x) for m in mods]
        rows = x.numel() // x.shape[-1]
        y = torch.ops.mkldnn._linear_pointwise(x.reshape(rows, -1), plan.weight, plan.bias, "none", [], "")
    except (RuntimeError, AttributeError):
        # A torch build without these oneDNN ops: fall back for good.
        _enabled = False
        return [m(x) for m in mods]
    y = y.view(*x.shape[:-1], y.shape[-1])
    return y.split(plan.sizes, dim=-1) if len(mods) > 1 else [y]
