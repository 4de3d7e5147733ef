"""Fused matmul + running top-k in Triton: the same answer as `kernels.topk`, without a score block.

    from kernels.triton_topk import triton_topk
    scores, ids = triton_topk(queries, items, k, exclude=histories, allowed=in_stock)

Each program owns a block of queries and one split of the items. It walks its split tile by tile:
a `tl.dot` gives the (BLOCK_Q, BLOCK_N) scores, and a tile whose best score beats no row's current
k-th best is skipped; otherwise its K best are merged into the running K best with one bitonic
step (elementwise max of a descending and an ascending run, then a bitonic merge). Scores never
reach memory: each program writes only its (BLOCK_Q, K) survivors, and torch merges the splits.

Exactness: a score and its item id are packed into one int64 key whose order is (score desc, id
asc), the order `kernels.topk` promises, so every comparison in the kernel settles ties by lower
id. Scores are rounded to the input dtype before keying, as the torch path ranks bf16/fp16 scores
in their own dtype. The fp32 accumulation order differs from a BLAS matmul, so on general floats
scores agree to rounding; on exactly representable sums (small integers) ids and scores are equal.

Exclusions are applied by over-fetching: the kernel keeps k + E per query (E the longest
exclusion list) and the excluded ids are dropped afterwards, so k + E is limited to `MAX_K`.
The module imports triton at import time; `kernels.topk(..., backend="triton")` imports it only
when asked. On a CPU, TRITON_INTERPRET=1 (set before the import) runs it in Triton's interpreter.
"""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from kernels.topk import _check, _exclusions

# Triton reads TRITON_INTERPRET when a kernel is decorated, so this module's mode is fixed at import.
INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
# Survivors per query (k + the longest exclusion list, rounded up to a power of two). The bitonic
# network grows with it: for sm_90 a 256-wide kernel compiles in ~40 s and uses 136 KB of shared
# memory; 1024 took over 15 minutes to compile.
MAX_K = 256
_LOW = 0x7FFFFFFF  # id i is stored as _LOW - i in the key's low 32 bits: lower id, larger key
_EMPTY = -(2 ** 63)  # the key of a masked item: below every real key
_LOW_C, _EMPTY_C = tl.constexpr(_LOW), tl.constexpr(_EMPTY)  # the same, as Triton lets kernels see globals


@triton.jit
def _bit(n_dims: tl.constexpr, j: tl.constexpr):
    """Bit j of the position along a hypercube's inner dimensions, shaped to broadcast over it."""
    return tl.reshape(tl.arange(0, 2), [1] * (n_dims - j - 1) + [2] + [1] * j)


@triton.jit
def _compare_swap(h, flip, j: tl.constexpr):
    """One bitonic compare-and-swap between the pairs that differ in bit j of h's inner index.

    The pair's max and min come from reductions over a size-2 axis (plain max/min, which Triton's
    interpreter runs vectorised); the lower position takes the min unless flip says descending.
    """
    n_dims: tl.constexpr = len(h.shape)
    hi = tl.max(h, n_dims - 1 - j, keep_dims=True)
    lo = tl.min(h, n_dims - 1 - j, keep_dims=True)
    return tl.where((flip ^ _bit(n_dims, j)) != 0, hi, lo)


@triton.jit
def _merge_cube(h, stage: tl.constexpr, order: tl.constexpr):
    """Bitonic merge of runs of 2**stage: order 0 ascending, 1 descending, 2 alternating by run."""
    if order == 2:
        flip = _bit(len(h.shape), stage)
    else:
        flip = order
    for i in tl.static_range(stage):
        h = _compare_swap(h, flip, stage - 1 - i)
    return h


@triton.jit
def _rows_topk(x, LOG_ROWS: tl.constexpr, LOG_COLS: tl.constexpr, LOG_K: tl.constexpr, ORDER: tl.constexpr):
    """The 2**LOG_K largest of each row of a (2**LOG_ROWS, 2**LOG_COLS) tensor, sorted (ORDER 0
    ascending, 1 descending).

    Sort runs of 2**LOG_K in alternating order, then repeatedly keep the elementwise max of two
    neighbouring runs (the larger half of their union, a bitonic run) and merge it again.
    """
    h = tl.reshape(x, [2] * (LOG_ROWS + LOG_COLS))
    for i in tl.static_range(1, LOG_K + 1):
        h = _merge_cube(h, i, 2 if i < LOG_COLS else ORDER)
    for i in tl.static_range(LOG_K + 1, LOG_COLS + 1):
        h = tl.max(h, len(h.shape) - 1 - LOG_K)
        h = _merge_cube(h, LOG_K, 2 if i < LOG_COLS else ORDER)
    return tl.reshape(h, [2 ** LOG_ROWS, 2 ** LOG_K])


@triton.jit
def _rows_merge_desc(x, LOG_ROWS: tl.constexpr, LOG_K: tl.constexpr):
    """Sort each row of a (2**LOG_ROWS, 2**LOG_K) tensor whose rows are bitonic, descending."""
    h = tl.reshape(x, [2] * (LOG_ROWS + LOG_K))
    h = _merge_cube(h, LOG_K, 1)
    return tl.reshape(h, [2 ** LOG_ROWS, 2 ** LOG_K])


@triton.jit
def _ordered_bits(s):
    """float32 -> int32 whose signed order is the float order (-0.0 folded into +0.0)."""
    s = tl.where(s == 0.0, 0.0, s)
    b = s.to(tl.int32, bitcast=True)
    return b ^ ((b >> 31) & 0x7FFFFFFF)


@triton.jit
def _topk_kernel(q_ptr, x_ptr, allow_ptr, out_ptr, Q, N, D, per_split,
                 stride_q, stride_x, stride_aq, stride_out_s, stride_out_q,
                 HAS_ALLOW: tl.constexpr, ROUND_BF16: tl.constexpr, ROUND_FP16: tl.constexpr,
                 BLOCK_D: tl.constexpr, LOG_Q: tl.constexpr, LOG_N: tl.constexpr, LOG_K: tl.constexpr):
    BLOCK_Q: tl.constexpr = 2 ** LOG_Q
    BLOCK_N: tl.constexpr = 2 ** LOG_N
    K: tl.constexpr = 2 ** LOG_K
    pid_q, split = tl.program_id(0), tl.program_id(1)
    rq = pid_q * BLOCK_Q + tl.arange(0, BLOCK_Q)
    rd = tl.arange(0, BLOCK_D)
    lo = split * per_split
    hi = tl.minimum(lo + per_split, N)
    best = tl.full((BLOCK_Q, K), _EMPTY_C, tl.int64)  # running K best keys per query, descending
    for n0 in range(lo, hi, BLOCK_N):
        rn = n0 + tl.arange(0, BLOCK_N)
        acc = tl.zeros((BLOCK_Q, BLOCK_N), tl.float32)
        for d0 in range(0, D, BLOCK_D):
            dm = (d0 + rd) < D
            q = tl.load(q_ptr + rq[:, None] * stride_q + (d0 + rd)[None, :], mask=(rq[:, None] < Q) & dm[None, :], other=0.0)
            x = tl.load(x_ptr + rn[:, None] * stride_x + (d0 + rd)[None, :], mask=(rn[:, None] < hi) & dm[None, :], other=0.0)
            acc += tl.dot(q, tl.trans(x), input_precision="ieee")  # (BLOCK_Q, BLOCK_N)
        if ROUND_BF16:  # rank the scores the caller's dtype can hold, as the torch path does
            acc = acc.to(tl.bfloat16).to(tl.float32)
        if ROUND_FP16:
            acc = acc.to(tl.float16).to(tl.float32)
        ok = (rn[None, :] < hi) & (acc != float("-inf"))  # fp16 overflow to -inf counts as filtered
        if HAS_ALLOW:
            ok &= tl.load(allow_ptr + rq[:, None] * stride_aq + rn[None, :], mask=(rq[:, None] < Q) & (rn[None, :] < hi), other=0) != 0
        key = (_ordered_bits(acc).to(tl.int64) << 32) | (-rn[None, :] + _LOW_C).to(tl.int64)
        key = tl.where(ok, key, _EMPTY_C)
        kth = tl.min(best, axis=1)
        if tl.sum((key > kth[:, None]).to(tl.int32)) > 0:  # most tiles, once warmed up, change nothing
            top = _rows_topk(key, LOG_Q, LOG_N, LOG_K, 0)  # the tile's K best, ascending
            # best is descending and top ascending: their elementwise max is the K best of the
            # union as one bitonic run, which a single merge sorts.
            best = _rows_merge_desc(tl.maximum(best, top), LOG_Q, LOG_K)
    out = out_ptr + split * stride_out_s + rq[:, None] * stride_out_q + tl.arange(0, K)[None, :]
    tl.store(out, best, mask=rq[:, None] < Q)


def triton_topk(queries: torch.Tensor, items: torch.Tensor, k: int, *, exclude=None,
                allowed: torch.Tensor | None = None, splits: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """`kernels.topk` with a fused Triton kernel; same arguments, rules and errors, plus:

    splits: item splits run in parallel (default: enough programs to fill the GPU).
    Raises ValueError when k plus the longest exclusion list exceeds MAX_K, or when N >= 2**31.
    """
    Q, N = _check(queries, items, k, allowed)
    if queries.device.type != "cuda" and not INTERPRETED:
        raise ValueError(f"the Triton top-k kernel runs on CUDA tensors (got {queries.device}); on a CPU use "
                         "backend='torch', or set TRITON_INTERPRET=1 before kernels.triton_topk is imported")
    if N >= 2 ** 31:
        raise ValueError(f"the Triton kernel packs ids in 31 bits; {N} items is too many (use kernels.topk)")
    excluded = _exclusions(exclude, Q, N, queries.device)
    longest = int(torch.bincount(excluded[0], minlength=Q).max()) if excluded is not None and len(excluded[0]) else 0
    K = max(16, triton.next_power_of_2(min(k + longest, N)))
    if K > MAX_K:
        raise ValueError(f"k + the longest exclusion list ({k} + {longest}) exceeds the Triton kernel's {MAX_K} "
                         "survivors per query; use kernels.topk(..., backend='torch')")
    shape = launch_shape(K, queries.shape[1])
    BLOCK_Q, BLOCK_N = 2 ** shape["LOG_Q"], 2 ** shape["LOG_N"]
    q_blocks = triton.cdiv(Q, BLOCK_Q)
    if splits is None:
        splits = max(1, min(triton.cdiv(N, 4 * BLOCK_N), triton.cdiv(264, q_blocks)))
    per_split = triton.cdiv(triton.cdiv(N, splits), BLOCK_N) * BLOCK_N
    splits = triton.cdiv(N, per_split)
    q, x = queries.contiguous(), items.contiguous()
    if INTERPRETED and q.dtype == torch.bfloat16:
        # The interpreter computes in numpy, which has no bfloat16. Widening is exact, products of
        # bf16 values are exact in fp32 and tl.dot accumulates in fp32 anyway; ROUND_BF16 still
        # rounds the scores back to bf16 before ranking.
        q, x = q.float(), x.float()
    allow = None if allowed is None else allowed.to(torch.uint8).contiguous()
    out = torch.empty((splits, Q, K), dtype=torch.int64, device=queries.device)
    _topk_kernel[(q_blocks, splits)](
        q, x, allow if allow is not None else out, out, Q, N, q.shape[1], per_split,
        q.stride(0), x.stride(0), 0 if allow is None or allow.dim() == 1 else allow.stride(0),
        out.stride(0), out.stride(1),
        HAS_ALLOW=allow is not None, ROUND_BF16=queries.dtype == torch.bfloat16,
        ROUND_FP16=queries.dtype == torch.float16,
        **shape)
    keys = out.permute(1, 0, 2).reshape(Q, splits * K)
    if excluded is not None:
        keys = _drop_excluded(keys, excluded, N)
    keys = keys.topk(k, dim=1).values  # keys are unique per item: the order is total
    return _decode(keys, queries.dtype)


def launch_shape(K: int, d: int) -> dict:
    """Tile sizes as the kernel's constexprs for K survivors per query (a power of two) and dimension d.

    Item tiles are at least K wide, so a tile's K best are a plain top-k of it; query blocks
    shrink as K grows to keep the running (BLOCK_Q, K) keys in registers.
    """
    block_q = 16 if K >= 256 else 32
    block_n = max(64, K)
    block_d = min(64, max(16, triton.next_power_of_2(d)))
    return {"BLOCK_D": block_d, "LOG_Q": block_q.bit_length() - 1, "LOG_N": block_n.bit_length() - 1,
            "LOG_K": K.bit_length() - 1}


def _drop_excluded(keys: torch.Tensor, excluded, N: int) -> torch.Tensor:
    """Set the keys of (query, excluded id) pairs to the empty key."""
    rows, ids = excluded
    item = _LOW - (keys & 0xFFFFFFFF)
    pair = torch.arange(keys.shape[0], device=keys.device)[:, None] * N + item
    hit = torch.isin(pair, rows.to(keys.device) * N + ids.to(keys.device)) & (keys != _EMPTY)
    return keys.masked_fill(hit, _EMPTY)


def _decode(keys: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """int64 keys -> (scores in `dtype`, ids); the empty key -> (-inf, -1)."""
    empty = keys == _EMPTY
    ids = torch.where(empty, -1, _LOW - (keys & 0xFFFFFFFF))
    bits = (keys >> 32).to(torch.int32)
    bits = bits ^ ((bits >> 31) & 0x7FFFFFFF)
    scores = bits.view(torch.float32).masked_fill(empty, float("-inf"))
    return scores.to(dtype), ids
