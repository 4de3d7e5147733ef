"""Run under torchrun by test_sharded.py: each rank searches its slice; rank 0 saves the merged answer."""
import sys

import torch
import torch.distributed as dist

from kernels.sharded import sharded_topk

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
g = torch.Generator().manual_seed(0)
queries = torch.randint(-2, 3, (13, 8), generator=g).float()  # small integers: many exact ties
items = torch.randint(-2, 3, (1001, 8), generator=g).float()
exclude = [list(range(q, 1001, 97)) for q in range(13)]
bounds = [0, 600, 1001] if world == 2 else torch.linspace(0, 1001, world + 1).long().tolist()
lo, hi = bounds[rank], bounds[rank + 1]
scores, ids = sharded_topk(queries, items[lo:hi], 40, offset=lo, exclude=exclude, block_bytes=13 * 128 * 4)
if rank == 0:
    torch.save({"scores": scores, "ids": ids, "queries": queries, "items": items, "exclude": exclude}, sys.argv[1])
dist.destroy_process_group()
