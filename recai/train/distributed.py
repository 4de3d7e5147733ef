"""torch.distributed for training: process-group setup from torchrun's environment, sums across
ranks, and an all-gather that keeps gradients (cross-device negatives)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_from_env(backend: str | None = None) -> World:
    """Join the process group torchrun describes (WORLD_SIZE, RANK, MASTER_ADDR, ...), once.

    backend: default nccl when CUDA is available, else gloo. Without torchrun's variables (or with
    WORLD_SIZE=1) nothing is initialised and a one-process World comes back.
    """
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World()
    dist.init_process_group(backend or ("nccl" if torch.cuda.is_available() else "gloo"))
    return World(dist.get_rank(), dist.get_world_size())


def world() -> World:
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def sum_across(value: float | int | torch.Tensor, device=None) -> float:
    """The sum of a number over all ranks (the number itself in one process)."""
    if world().size == 1:
        return float(value)
    t = torch.as_tensor(value, dtype=torch.float64, device=device).detach().clone().reshape(1)
    dist.all_reduce(t)
    return float(t.item())


class _GatherWithGrad(torch.autograd.Function):
    """Forward: concatenate every rank's (n, ...) tensor. Backward: each rank's slice receives the
    gradient that every rank's loss sent to it (an all-reduce of the full gradient, then its slice)."""

    @staticmethod
    def forward(ctx, x):
        size, rank = dist.get_world_size(), dist.get_rank()
        parts = [torch.empty_like(x) for _ in range(size)]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.n = rank, x.shape[0]
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(world · n, ...) from every rank's (n, ...); gradients flow back to each rank's own rows.
    Every rank must pass the same n. In one process it returns x."""
    if world().size == 1:
        return x
    return _GatherWithGrad.apply(x)
