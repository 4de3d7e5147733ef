"""Retrieval kernels: exact top-k maximum-inner-product search (torch, optional Triton).

Filled in by the retrieval work (issue 4); the package exists now so the layout in DESIGN.md holds.
"""
