"""Which examples go into which optimizer step: a deterministic plan from (seed, epoch).

The plan is made of global batches (all devices and micro-batches of one optimizer step
together), so it does not depend on how many processes share the work: one process with batch 2B
sees the same examples per step as two processes with batch B. With bucketing, examples of similar
length share a batch (less padding) while the order of batches stays random.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from recai.errors import DataError


def epoch_plan(lengths: list[int], global_batch: int, epoch: int, seed: int, bucket: bool = True) -> list[list[int]]:
    """Global batches of example indices for one epoch (the last one may be smaller)."""
    n = len(lengths)
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=g).tolist()
    if bucket:
        # Sort within windows of 50 batches: near-equal lengths per batch, still a shuffled stream.
        window = global_batch * 50
        order = [i for lo in range(0, n, window) for i in sorted(order[lo:lo + window], key=lambda i: lengths[i])]
    batches = [order[lo:lo + global_batch] for lo in range(0, n, global_batch)]
    perm = torch.randperm(len(batches), generator=g).tolist()
    return [batches[i] for i in perm]


def split_batch(batch: list[int], pieces: int) -> list[list[int]]:
    """`pieces` contiguous parts of near-equal size (some may be empty for a short last batch)."""
    size, extra = divmod(len(batch), pieces)
    out, lo = [], 0
    for p in range(pieces):
        hi = lo + size + (p < extra)
        out.append(batch[lo:hi])
        lo = hi
    return out


def read_jsonl(path: str | Path, required=None) -> list[dict]:
    """Objects of a JSONL file (blank lines skipped). DataError naming file and line for bad JSON, a
    non-object, or a row missing every field set in `required` (a list of alternatives, each a
    tuple of field names), and for a file with no rows."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{n}: not valid JSON: {e}") from e
            if not isinstance(row, dict):
                raise DataError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
            if required and not any(all(k in row for k in option) for option in required):
                wanted = " or ".join("+".join(option) for option in required)
                raise DataError(f"{path}:{n}: needs the field(s) {wanted}; it has {sorted(row)}")
            rows.append(row)
    if not rows:
        raise DataError(f"{path}: no examples (empty file)")
    return rows
