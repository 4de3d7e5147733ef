"""Top-k over an item matrix split across processes (torch.distributed: gloo on CPU, nccl on GPU).

Each rank holds the rows [offset, offset + n_local) of the global item matrix and the same queries.
It searches its slice with `kernels.topk`, the (Q, k) candidates of every rank are all-gathered,
and every rank merges them with the same rule as the single-process kernel (score desc, lower
global id first), so the answer equals `topk` over the whole matrix on one machine.

    # torchrun --nproc_per_node 2 serve.py
    dist.init_process_group("gloo")
    scores, ids = sharded_topk(queries, my_items, k=10, offset=my_offset)
"""
from __future__ import annotations

import torch
import torch.distributed as dist

from kernels.topk import DEFAULT_BLOCK_BYTES, _merge, topk


def sharded_topk(queries: torch.Tensor, local_items: torch.Tensor, k: int, *, offset: int, exclude=None,
                 allowed: torch.Tensor | None = None, group=None,
                 block_bytes: int = DEFAULT_BLOCK_BYTES) -> tuple[torch.Tensor, torch.Tensor]:
    """Global top-k; every rank gets the same (scores (Q, k), global ids (Q, k)).

    Args:
        queries: (Q, d), identical on every rank.
        local_items: this rank's (n_local, d) slice (n_local may be 0); offset: its first global id.
        exclude: per query, global item ids never returned (the same lists on every rank).
        allowed: bool mask over this rank's slice, (n_local,) or (Q, n_local).
    Raises ValueError when k exceeds the global item count or the slices overlap or leave gaps.
    """
    n_local = local_items.shape[0]
    layout = _gather_layout(offset, n_local, queries.device, group)
    total = int(layout[:, 1].sum())
    if not isinstance(k, int) or not 1 <= k <= total:
        raise ValueError(f"k must be an int in [1, N={total}] (items over all ranks), got {k!r}")
    s = torch.full((queries.shape[0], k), float("-inf"), dtype=queries.dtype, device=queries.device)
    i = torch.full((queries.shape[0], k), -1, dtype=torch.long, device=queries.device)
    if n_local:
        local_k = min(k, n_local)
        ls, li = topk(queries, local_items, local_k, exclude=_local_exclusions(exclude, offset, n_local),
                      allowed=allowed, block_bytes=block_bytes)
        s[:, :local_k], i[:, :local_k] = ls, torch.where(li >= 0, li + offset, -1)
    world = dist.get_world_size(group)
    all_s = [torch.empty_like(s) for _ in range(world)]
    all_i = [torch.empty_like(i) for _ in range(world)]
    dist.all_gather(all_s, s, group=group)
    dist.all_gather(all_i, i, group=group)
    best_s, best_i = all_s[0], all_i[0]
    for rs, ri in zip(all_s[1:], all_i[1:]):
        best_s, best_i = _merge(best_s, best_i, rs, ri, k)
    return best_s, torch.where(torch.isneginf(best_s), -1, best_i)


def _gather_layout(offset: int, n_local: int, device, group) -> torch.Tensor:
    """(world, 2) [offset, n_local] of every rank, checked to tile [0, N) without overlap."""
    mine = torch.tensor([[offset, n_local]], dtype=torch.long, device=device)
    parts = [torch.empty_like(mine) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, mine, group=group)
    layout = torch.cat(parts)
    spans = sorted((int(o), int(n)) for o, n in layout.tolist() if n > 0)
    expected = 0
    for o, n in spans:
        if o != expected:
            raise ValueError(f"item slices do not tile [0, N): a slice starts at {o}, expected {expected} "
                             f"(offsets and sizes per rank: {layout.tolist()})")
        expected = o + n
    return layout


def _local_exclusions(exclude, offset: int, n_local: int):
    if exclude is None:
        return None
    out = []
    for ids in exclude:
        ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
        out.append(ids[(ids >= offset) & (ids < offset + n_local)] - offset)
    return out
