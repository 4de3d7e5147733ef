"""Retrieval kernels: exact top-k maximum-inner-product search (torch; a fused Triton kernel to come).

`kernels.topk(queries, items, k, exclude=..., allowed=...)` is the stable entry point.
"""
from kernels.topk import topk

__all__ = ["topk"]
