"""Small-batch CPU inference through fused, prepacked and hand-written linear paths.

A decode step multiplies a handful of activation rows by every weight matrix once, so its speed is
the speed at which weights stream from memory, plus a fixed cost per call. Linears that share an
input (q/k/v, gate/up) run as one matmul on their concatenated weight, through one of:

- ROWS, recai's own kernel (recai/nn/csrc/rows_linear.cpp, compiled on first use by
  recai.nn.cpu_ops): one row in either dtype, and bf16 batches where oneDNN cannot pack bf16. It
  reads the weight as stored and accumulates in fp32; over SmolLM2-135M's weights on an AVX2 VM it
  read 16 GB/s in fp32 (MKL on the transposed weight: 12.6) and 12.3 GB/s in bf16 (ATen: 8.6).
- PACKED, oneDNN's blocked ("prepacked") layout with a batch-size hint: several rows (fp32; bf16
  on CPUs with AVX-512 or AVX-NE-CONVERT, the only ones oneDNN packs bf16 for).
- GEMV, MKL on the transposed (in, out) weight, and LINEAR, F.linear on the joined weight: where
  recai's kernel could not be built (no compiler). The transposed copy helps every matrix at least
  as wide as it is tall, so a lone narrower one (the down projection) keeps the module's own path.

Each layout is made once per weight group on first use and re-made if a weight changes (its version
counter moves), so training, LoRA merges and dtype changes stay correct. Joined and packed copies
cost memory: about one more copy of the grouped weights.

Only used when: CPU tensors, autograd off (inference), a plain nn.Linear, at most MAX_ROWS rows,
and the oneDNN ops exist in this torch build. Everything else goes through `module(x)` unchanged.
Set RECAI_CPU_PACKED=0 to turn it off.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from recai.nn import cpu_ops

MAX_ROWS = 16  # decode-sized batches; prefill-sized inputs use the ordinary path
PACK_HINT = 8  # batch-size hint for the blocked layout; measured good for 1..16 rows

_enabled = os.environ.get("RECAI_CPU_PACKED", "1") != "0" and torch.backends.mkldnn.is_available()


_DTYPES = (torch.float32, torch.bfloat16)
# dtypes whose prepacked layout this CPU lacks (oneDNN's bf16 packing wants AVX-512 or AVX-NE-CONVERT);
# filled on the first failure, so those dtypes go through the modules' own path from then on.
_no_packed: set = set()


class _Plan:
    """The weight of a group of linears in the layouts the fast paths use, and what it was made from.

    Two layouts, each made on first use: oneDNN's prepacked (blocked) copy of the concatenated
    weights, and the transposed (in, out) contiguous copy of them (single fp32 rows). A plan
    stays valid while the group holds the same modules with the same weight tensors at the same
    version; anything else (LoRA swapping a module in, load_state_dict, an optimizer step, .to())
    makes it stale and it is rebuilt. Groups that cannot be fused keep `usable=False`.
    """

    __slots__ = ("mods", "weights", "versions", "ptrs", "sizes", "usable", "bias", "_joined", "_packed", "_transposed")

    def __init__(self, mods):
        self.mods = mods
        self.weights = tuple(m._parameters.get("weight") for m in mods)
        self.versions = tuple(w._version for w in self.weights) if all(w is not None for w in self.weights) else ()
        self.ptrs = tuple(w.data_ptr() for w in self.weights) if self.versions else ()
        self.sizes = [w.shape[0] for w in self.weights] if self.versions else []
        biases = [m._parameters.get("bias") for m in mods]
        self.usable = bool(self.versions) and all(type(m) is nn.Linear for m in mods) and len({b is None for b in biases}) == 1
        self.bias = None
        if self.usable and biases[0] is not None:
            self.bias = torch.cat([b.detach() for b in biases]) if len(mods) > 1 else biases[0].detach()
        self._joined = self._packed = self._transposed = None

    def valid_for(self, mods) -> bool:
        # Plain loops, not all(...) over generators: this runs for every linear of every decode step.
        if len(mods) != len(self.mods):
            return False
        for m, mine in zip(mods, self.mods):
            if m is not mine:
                return False
        for m, w, v, p in zip(mods, self.weights, self.versions, self.ptrs):  # none for an unusable plan
            if m._parameters.get("weight") is not w or w._version != v or w.data_ptr() != p:
                return False  # data_ptr: `.data =` swaps storage under the same Parameter
        return True

    def joined(self) -> torch.Tensor:
        """The group's weights stacked as one (sum of out, in) matrix (no copy for a single linear)."""
        if self._joined is None:
            ws = [w.detach() for w in self.weights]
            self._joined = torch.cat(ws) if len(ws) > 1 else ws[0]
        return self._joined

    def transposed(self) -> torch.Tensor:
        if self._transposed is None:
            self._transposed = self.joined().t().contiguous()
        return self._transposed

    def packed(self) -> torch.Tensor:
        if self._packed is None:
            self._packed = torch.ops.mkldnn._reorder_linear_weight(self.joined(), PACK_HINT)
        return self._packed


def linear(mod: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """`mod(x)`, through a faster weight layout when that is both possible and faster."""
    y = _fast((mod,), x)
    return mod(x) if y is None else y


def fused_linear(mods: tuple[nn.Linear, ...], x: torch.Tensor) -> list[torch.Tensor]:
    """`[m(x) for m in mods]` for linears sharing one input, as a single matmul when possible.

    One bigger matrix streams better than several small ones and costs one call instead of many
    (q/k/v projections; gate and up projections).
    """
    y = _fast(mods, x)
    if y is None:
        return [m(x) for m in mods]
    return list(y.split(mods[0].__dict__["_recai_plan"].sizes, dim=-1)) if len(mods) > 1 else [y]


def joint_linear(mods: tuple[nn.Linear, ...], x: torch.Tensor) -> torch.Tensor:
    """`torch.cat([m(x) for m in mods], -1)`, computed as one matmul when possible.

    For callers that work on the joined output (rotary embedding applied to q and k in one go).
    """
    y = _fast(mods, x)
    if y is not None:
        return y
    return torch.cat([m(x) for m in mods], dim=-1) if len(mods) > 1 else mods[0](x)


# Weight layouts, numbered as recai/nn/csrc/decode_step.cpp numbers them.
GEMV, PACKED, LINEAR, ROWS = 0, 1, 2, 3

_kernel: dict = {}  # "rows": whether rows_kernel() is usable, decided once per process


def rows_kernel() -> bool:
    """Whether recai's decode-sized matmul (recai/nn/csrc/rows_linear.cpp) is built here and runs
    on torch's threads; it is compiled on first use (recai.nn.cpu_ops)."""
    if "rows" not in _kernel:
        _kernel["rows"] = cpu_ops.load() and bool(torch.ops.recai.threaded())
    return _kernel["rows"]


def layout(mods, rows: int, dtype) -> tuple[int, torch.Tensor, torch.Tensor | None] | None:
    """How the fast paths compute the joined output of `mods` for `rows` input rows of `dtype`:
    (kind, weight, bias) with kind ROWS (recai's rows_linear on the joined weight), GEMV
    (`x @ weight`, weight (in, out)), PACKED (oneDNN on a prepacked weight) or LINEAR (the
    module's own `F.linear`, single linears only); None where the plain modules must run (the fast
    paths are off, a module is not a plain nn.Linear, ...).

    The caller has checked the device, dtype, row count and grad mode (see `_fast`).
    """
    global _enabled
    # One row: recai's kernel where it was built, for both dtypes. Without it, a single fp32 row
    # goes through the transposed weight (see the module docstring), except where that does not
    # pay: one linear narrower than it is long runs as itself, with no plan. Several rows are
    # faster packed; where this CPU cannot pack the dtype (bf16 without AVX-512), recai's kernel
    # again, which beats ATen's bf16 matmul there by about 2x.
    kernel = rows_kernel()
    gemv = rows == 1 and dtype == torch.float32 and not kernel
    if gemv and len(mods) == 1 and mods[0].out_features < mods[0].in_features:
        mod = mods[0]
        return (LINEAR, mod.weight, mod.bias) if type(mod) is nn.Linear else None
    plan = mods[0].__dict__.get("_recai_plan")
    if plan is None or not plan.valid_for(mods):
        plan = _Plan(mods)
        mods[0].__dict__["_recai_plan"] = plan
    if not plan.usable or plan.weights[0].dtype != dtype:
        return None
    kernel = kernel and plan.joined().is_contiguous()
    if rows == 1 and kernel:
        return ROWS, plan.joined(), plan.bias
    if gemv:
        return GEMV, plan.transposed(), plan.bias
    if dtype not in _no_packed:
        try:
            return PACKED, plan.packed(), plan.bias
        except AttributeError:  # a torch build without these oneDNN ops: fall back for good
            _enabled = False
            return None
        except RuntimeError:  # this CPU cannot pack this dtype
            _no_packed.add(dtype)
    # No packed layout for this dtype here: the joined weight, still one matmul instead of several.
    return (ROWS if kernel else LINEAR), plan.joined(), plan.bias


def usable_for(x: torch.Tensor) -> bool:
    """Whether the fast paths apply to input x at all: CPU, a supported dtype, decode-sized, no autograd."""
    return (_enabled and x.device.type == "cpu" and x.dtype in _DTYPES and x.numel() <= MAX_ROWS * x.shape[-1]
            and not torch.is_grad_enabled())


def _fast(mods, x: torch.Tensor) -> torch.Tensor | None:
    """The joined output of `mods` on x through a cached weight layout, or None where the plain
    modules must run (autograd on, big inputs, other devices or dtypes, non-Linear modules).

    Runs several times per layer per decoded token, so the cheap tests come first and the cache
    check avoids nn.Module attribute lookups.
    """
    if not usable_for(x):
        return None
    rows = x.numel() // x.shape[-1]
    lay = layout(mods, rows, x.dtype)
    if lay is None or (lay[0] == LINEAR and len(mods) == 1):
        return None  # the module itself does exactly this
    kind, weight, bias = lay
    flat = x.reshape(rows, -1)
    if kind == ROWS:
        y = torch.ops.recai.rows_linear(flat, weight, bias)
    elif kind == GEMV:
        y = torch.mm(flat, weight) if bias is None else torch.addmm(bias, flat, weight)
    elif kind == PACKED:
        y = torch.ops.mkldnn._linear_pointwise(flat, weight, bias, "none", [], "")
    else:
        y = F.linear(flat, weight, bias)
    return y.view(*x.shape[:-1], y.shape[-1])
