"""ItemIndex: item vectors with their ids, answering exact top-k with exclusions and hard filters.

    index = ItemIndex.build(embedder, catalog.values("title"), ids=catalog.ids)
    hits = index.search(embedder.encode(["space opera with robots"]), k=10, exclude=[["260"]])
    hits.ids[0]        # ['1196', ...] best first
    index.save("movies.safetensors"); index = ItemIndex.load("movies.safetensors")

Search goes through `kernels.topk`, so memory stays bounded whatever the catalog size. A file
holds the vectors as one safetensors tensor and the ids (JSON) in its metadata.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from kernels import topk
from recai.data.atomic import atomic_path
from recai.errors import CheckpointError

FORMAT = "recai.ItemIndex/1"


@dataclass
class SearchResult:
    scores: torch.Tensor  # (Q, k), best first; -inf where fewer than k items were eligible
    indices: torch.Tensor  # (Q, k) row numbers in the index; -1 in those slots
    ids: list[list[str]]  # (Q, ·) item ids, the padding slots left out


class ItemIndex:
    """vectors (N, d) floating, finite; ids: N distinct strings (default "0".."N-1").

    Raises ValueError for a non-2-D or non-finite matrix (naming the row), ids of another length,
    or a duplicated id (naming it).
    """

    def __init__(self, vectors: torch.Tensor, ids=None):
        if vectors.dim() != 2 or not vectors.is_floating_point():
            raise ValueError(f"vectors must be a floating (N, d) matrix, got {vectors.dtype} {tuple(vectors.shape)}")
        finite = torch.isfinite(vectors).all(1)
        if not bool(finite.all()):
            raise ValueError(f"vector row {int((~finite).nonzero()[0])} holds NaN or inf")
        ids = [str(i) for i in range(len(vectors))] if ids is None else [str(i) for i in ids]
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
        self.row_of = {item_id: row for row, item_id in enumerate(ids)}
        if len(self.row_of) != len(ids):
            dup = next(i for i, n in Counter(ids).items() if n > 1)
            raise ValueError(f"duplicate item id {dup!r}")
        self.vectors, self.ids = vectors, ids

    @classmethod
    def build(cls, embedder, texts, ids=None, batch_size: int = 64, progress: bool = False,
              max_tokens: int = 4096) -> "ItemIndex":
        """Embed `texts` (one per item) with `embedder` and index them under `ids`."""
        return cls(embedder.encode(list(texts), batch_size=batch_size, progress=progress, max_tokens=max_tokens), ids)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def rows(self, ids, what: str = "id") -> torch.Tensor:
        """Row numbers of item ids; ValueError naming an unknown one."""
        out = []
        for i in ids:
            row = self.row_of.get(str(i))
            if row is None:
                raise ValueError(f"unknown item {what} {i!r}: not in this index of {len(self)} items")
            out.append(row)
        return torch.tensor(out, dtype=torch.long)

    def search(self, queries: torch.Tensor, k: int = 10, *, exclude=None, allowed=None,
               block_bytes: int | None = None, backend: str = "torch") -> SearchResult:
        """Exact top-k by inner product (cosine for normalised vectors).

        Args:
            queries: (Q, d) or (d,), converted to the index's dtype and device.
            k: results per query, 1 <= k <= len(self) (see `kernels.topk` for the rule).
            exclude: per query, item ids never returned (e.g. the user's history).
            allowed: item ids eligible for every query (a hard filter), or a bool mask (N,) / (Q, N).
            backend: "torch" or "triton" (the fused kernel; the index on a CUDA device).
        Raises ValueError for unknown ids, a dimension mismatch, NaN/inf queries or a bad k.
        """
        q = queries.reshape(1, -1) if queries.dim() == 1 else queries
        q = q.to(dtype=self.vectors.dtype, device=self.vectors.device)
        excluded = None if exclude is None else [self.rows(e, "id in exclude") for e in exclude]
        if exclude is not None and len(excluded) != len(q):
            raise ValueError(f"exclude has {len(excluded)} lists for {len(q)} queries")
        mask = allowed
        if allowed is not None and not isinstance(allowed, torch.Tensor):
            mask = torch.zeros(len(self), dtype=torch.bool)
            mask[self.rows(allowed, "id in allowed")] = True
        options = {"backend": backend} if block_bytes is None else {"block_bytes": block_bytes, "backend": backend}
        if mask is not None:
            mask = mask.to(self.vectors.device)
        scores, rows = topk(q, self.vectors, k, exclude=excluded, allowed=mask, **options)
        ids = [[self.ids[r] for r in row if r >= 0] for row in rows.tolist()]
        return SearchResult(scores, rows, ids)

    def save(self, path: str | Path) -> Path:
        """One .safetensors file (vectors + ids in its metadata), written atomically."""
        from safetensors.torch import save_file

        path = Path(path)
        meta = {"format": FORMAT, "ids": json.dumps(self.ids)}
        with atomic_path(path) as tmp:
            save_file({"vectors": self.vectors.detach().cpu().contiguous()}, str(tmp), metadata=meta)
        return path

    @classmethod
    def load(cls, path: str | Path, device=None) -> "ItemIndex":
        """An index written by `save`; CheckpointError naming the file when it is not one."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such index file")
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                meta = f.metadata() or {}
                if meta.get("format") != FORMAT or "vectors" not in f.keys():
                    raise CheckpointError(f"{path}: not a recai ItemIndex file (format {meta.get('format')!r})")
                vectors = f.get_tensor("vectors")
            ids = json.loads(meta["ids"])
        except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as e:
            raise CheckpointError(f"{path}: unreadable ItemIndex file: {e}") from e
        try:
            return cls(vectors.to(device) if device else vectors, ids)
        except ValueError as e:
            raise CheckpointError(f"{path}: {e}") from e
