"""Retrieval kernels: exact top-k maximum-inner-product search (chunked torch; optional fused Triton).

`kernels.topk(queries, items, k, exclude=..., allowed=...)` is the stable entry point.
"""
from kernels.topk import topk

__all__ = ["topk"]
