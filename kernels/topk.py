"""Exact maximum-inner-product top-k of queries over items, in bounded memory.

    scores, ids = topk(queries, items, k)                       # (Q, k) each, best first
    scores, ids = topk(queries, items, k, exclude=histories)    # per-query ids never returned
    scores, ids = topk(queries, items, k, allowed=in_stock)     # (N,) or (Q, N) bool: hard filter

Items are scanned in chunks: each step multiplies a block of queries by a chunk of items, keeps the
block's k best per query and merges them with the running k best, so at most one score block
(`block_bytes`, default 64 MB) exists at a time, whatever N is. The answer equals `torch.topk` over
the full score matrix with ties broken towards the lower item id: when a chunk's k-th score is
tied with scores left outside its k, the tied ones are taken in id order (a rare, separate path).

Items are trusted (ItemIndex checks them once when built; checking here would double the memory
traffic of a single query); queries are checked for NaN and inf.
Rules: k must be in [1, N] (a larger k is an error, not a silent clamp); where fewer than k items
are eligible (filters, exclusions) the remaining slots hold id -1 and score -inf. Scores come in
the queries' dtype (fp32, bf16, fp16), on the queries' device (CPU or CUDA).
"""
from __future__ import annotations

import torch

DEFAULT_BLOCK_BYTES = 64 * 2 ** 20
MAX_CHUNK = 2 ** 21  # most items per score-block row (see _block_shape)


def topk(queries: torch.Tensor, items: torch.Tensor, k: int, *, exclude=None, allowed: torch.Tensor | None = None,
         block_bytes: int = DEFAULT_BLOCK_BYTES, backend: str = "torch") -> tuple[torch.Tensor, torch.Tensor]:
    """The k items with the largest inner product for each query.

    Args:
        queries: (Q, d) floating; NaN or inf raises ValueError.
        items: (N, d), same dtype and device as queries.
        k: results per query, 1 <= k <= N.
        exclude: per-query item ids never returned: a sequence of Q id lists/tensors, or a (Q, E)
            long tensor padded with -1. Ids outside [0, N) raise ValueError.
        allowed: bool mask of eligible items, (N,) for all queries or (Q, N) per query.
        block_bytes: the most bytes a score block may take; it sets the chunk sizes.
        backend: "torch" (this chunked kernel) or "triton" (`kernels.triton_topk`, a fused kernel
            that materialises no score block; CUDA, or Triton's interpreter on CPU).
    Returns (scores (Q, k), ids (Q, k) long), best first, ties by lower id; -inf / -1 pad rows
    with fewer than k eligible items.
    """
    if backend == "triton":
        from kernels.triton_topk import triton_topk  # triton is optional: imported only when asked

        return triton_topk(queries, items, k, exclude=exclude, allowed=allowed)
    if backend != "torch":
        raise ValueError(f"unknown top-k backend {backend!r}: use 'torch' or 'triton'")
    Q, N = _check(queries, items, k, allowed)
    excluded = _exclusions(exclude, Q, N, queries.device)
    q_block, n_chunk = _block_shape(Q, N, k, queries.element_size(), block_bytes)
    out_scores, out_ids = [], []
    # One buffer for every score block: a fresh 64 MB tensor per chunk costs page faults that take
    # about as long as the matmul that fills it.
    buffer = torch.empty(q_block * n_chunk, dtype=queries.dtype, device=queries.device)
    for qlo in range(0, Q, q_block):
        qhi = min(qlo + q_block, Q)
        best_s = torch.full((qhi - qlo, k), float("-inf"), dtype=queries.dtype, device=queries.device)
        best_i = torch.full((qhi - qlo, k), -1, dtype=torch.long, device=queries.device)
        for nlo in range(0, N, n_chunk):
            nhi = min(nlo + n_chunk, N)
            block = buffer[:(qhi - qlo) * (nhi - nlo)].view(qhi - qlo, nhi - nlo)
            torch.matmul(queries[qlo:qhi], items[nlo:nhi].T, out=block)  # (q, n) scores
            _mask_block(block, qlo, qhi, nlo, nhi, excluded, allowed)
            found = _block_topk_above(block, min(k, nhi - nlo), best_s[:, -1])
            if found is not None:
                best_s, best_i = _merge(best_s, best_i, found[0], found[1] + nlo, k)
        out_scores.append(best_s)
        out_ids.append(torch.where(torch.isneginf(best_s), -1, best_i))
    return torch.cat(out_scores), torch.cat(out_ids)


def _check(queries, items, k, allowed) -> tuple[int, int]:
    if queries.dim() != 2 or items.dim() != 2:
        raise ValueError(f"queries and items must be 2-D (Q, d) and (N, d), got {tuple(queries.shape)} "
                         f"and {tuple(items.shape)}")
    if queries.shape[1] != items.shape[1]:
        raise ValueError(f"dimension mismatch: queries have d={queries.shape[1]}, items d={items.shape[1]}")
    if not queries.is_floating_point() or queries.dtype != items.dtype or queries.device != items.device:
        raise ValueError(f"queries and items need one floating dtype and device, got {queries.dtype} on "
                         f"{queries.device} and {items.dtype} on {items.device}")
    N = items.shape[0]
    if N == 0:
        raise ValueError("the item matrix is empty: nothing to search")
    if not isinstance(k, int) or not 1 <= k <= N:
        raise ValueError(f"k must be an int in [1, N={N}], got {k!r}")
    if not bool(torch.isfinite(queries).all()):
        bad = int((~torch.isfinite(queries)).any(1).nonzero()[0])
        raise ValueError(f"query row {bad} holds NaN or inf")
    if allowed is not None:
        if allowed.dtype != torch.bool or allowed.shape not in ((N,), (queries.shape[0], N)):
            raise ValueError(f"allowed must be a bool mask of shape ({N},) or ({queries.shape[0]}, {N}), "
                             f"got {allowed.dtype} {tuple(allowed.shape)}")
    return queries.shape[0], N


def _exclusions(exclude, Q: int, N: int, device) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(rows, ids) of every excluded pair, sorted by id so a chunk's pairs are one slice."""
    if exclude is None:
        return None
    if isinstance(exclude, torch.Tensor):
        if exclude.dim() != 2 or exclude.shape[0] != Q:
            raise ValueError(f"exclude tensor must be (Q={Q}, E) padded with -1, got {tuple(exclude.shape)}")
        rows = torch.arange(Q, device=exclude.device)[:, None].expand_as(exclude)
        keep = exclude >= 0
        rows, ids = rows[keep], exclude[keep].long()
        if bool((exclude < -1).any()):
            raise ValueError(f"exclude holds id {int(exclude.min())}; use -1 only as padding")
    else:
        if not hasattr(exclude, "__len__") or len(exclude) != Q:
            raise ValueError(f"exclude must hold one id list per query ({Q}), got {type(exclude).__name__}")
        lists = [torch.as_tensor(e, dtype=torch.long).reshape(-1) for e in exclude]
        rows = torch.repeat_interleave(torch.arange(Q), torch.tensor([len(e) for e in lists], dtype=torch.long))
        ids = torch.cat(lists) if lists else torch.zeros(0, dtype=torch.long)
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= N):
        bad = ids[(ids < 0) | (ids >= N)][0]
        raise ValueError(f"exclude holds item id {int(bad)}, outside [0, {N})")
    order = torch.argsort(ids, stable=True)
    return rows[order].to(device), ids[order].to(device)


def _block_shape(Q: int, N: int, k: int, elem: int, block_bytes: int) -> tuple[int, int]:
    """(queries per block, items per chunk) with q · n · elem <= block_bytes and n >= k where possible."""
    budget = max(block_bytes // elem, 1)
    q = min(Q, 1024)
    # torch.topk's own temporaries grow with the row length (values and long indices of the row),
    # so rows are kept to MAX_CHUNK items even when a block of few queries could hold more.
    n = max(min(budget // q, MAX_CHUNK), min(k, N), 1024)
    if q * n > budget:  # a huge k: fewer queries per block rather than a bigger block
        q = max(1, budget // n)
    return q, min(n, N)


def _mask_block(block, qlo, qhi, nlo, nhi, excluded, allowed) -> None:
    """-inf on excluded and disallowed items of a (q, n) score block, in place."""
    if allowed is not None:
        part = allowed[nlo:nhi] if allowed.dim() == 1 else allowed[qlo:qhi, nlo:nhi]
        block.masked_fill_(~part, float("-inf"))
    if excluded is not None:
        rows, ids = excluded
        a, b = torch.searchsorted(ids, torch.tensor([nlo, nhi], device=ids.device)).tolist()
        r, c = rows[a:b], ids[a:b] - nlo
        inside = (r >= qlo) & (r < qhi)
        block[r[inside] - qlo, c[inside]] = float("-inf")


def _block_topk(block: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best of each row of a block, ties at the k-th score resolved towards lower column."""
    if k == block.shape[1]:
        return block, torch.arange(k, device=block.device).expand_as(block)
    # One extra value tells whether a tie straddles the cut: only then can topk's choice among the
    # tied entries differ from "lower id first". No pass over the block beyond topk's own.
    s, i = torch.topk(block, k + 1, dim=1)
    kth, after = s[:, k - 1], s[:, k]
    s, i = s[:, :k], i[:, :k]
    ambiguous = (kth == after) & ~torch.isneginf(kth)  # -inf marks filtered items, dropped anyway
    if bool(ambiguous.any()):
        rows = ambiguous.nonzero().squeeze(1)
        s[rows], i[rows] = _lowest_ids_among_ties(block[rows], kth[rows, None], k)
    return s, i


def _group_size(k: int) -> int:
    """Columns per group whose max screens a score block: wide groups make the screen cheap, narrow
    ones gather fewer columns when many pass (best on the bench: 64 for k <= 32, else 32)."""
    return 64 if k <= 32 else 32


def _block_topk_above(block: torch.Tensor, k: int, kth: torch.Tensor):
    """The block's k best of each row that can still enter a running top-k whose k-th score is kth.

    Returns (scores, columns), or None when no entry of the block beats its row's kth. Later items
    have higher ids, so an entry must beat kth strictly to displace anything. Once the running
    top-k has warmed up only a few entries per row pass, and they lie in few groups of G
    columns: each group's max is read, the groups that pass are gathered (in column order, so
    lower column still means lower id) and only they are ranked. The k best entries of a row lie
    in its k best groups by (max desc, lower group), so this is exact; when too many groups pass
    to save work, the whole block is ranked.
    """
    q, n = block.shape
    G = _group_size(k)
    if n % G or k * G * 4 > n or bool(torch.isneginf(kth).any()):
        return _block_topk(block, k)
    groups = block.view(q, n // G, G)
    gmax = groups.amax(2)  # (q, n / G)
    live = int((gmax > kth[:, None]).sum(1).max())
    if live == 0:
        return None
    if live * G * 4 > n:
        return _block_topk(block, k)
    _, top_groups = _block_topk(gmax, min(live, k))
    top_groups = top_groups.sort(1).values  # column order = id order, which the tie rule needs
    cand = groups.gather(1, top_groups[:, :, None].expand(-1, -1, G)).reshape(q, -1)
    cols = (top_groups[:, :, None] * G + torch.arange(G, device=block.device)).reshape(q, -1)
    s, c = _block_topk(cand, min(k, cand.shape[1]))
    return s, cols.gather(1, c)


def _lowest_ids_among_ties(block: torch.Tensor, kth: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every entry above the k-th score, then the lowest-column entries equal to it, k per row."""
    greater = block > kth
    equal = block == kth
    need = k - greater.sum(1, keepdim=True)
    pick = greater | (equal & (equal.cumsum(1) <= need))
    cols = pick.nonzero()[:, 1].view(block.shape[0], k)  # exactly k per row, in column order
    return block.gather(1, cols), cols


def _merge(best_s, best_i, s, i, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """k best of the union of two (q, ·) candidate sets, sorted by score desc, then id asc."""
    s, i = torch.cat([best_s, s], 1), torch.cat([best_i, i], 1)
    # Sort by id, then stably by score: equal scores keep ascending id order.
    by_id = torch.argsort(torch.where(i < 0, torch.iinfo(torch.long).max, i), dim=1, stable=True)
    s, i = s.gather(1, by_id), i.gather(1, by_id)
    by_score = torch.argsort(s, dim=1, descending=True, stable=True)[:, :k]
    return s.gather(1, by_score), i.gather(1, by_score)
