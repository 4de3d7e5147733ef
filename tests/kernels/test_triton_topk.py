"""The fused Triton top-k equals the torch kernel; on a CPU it runs under TRITON_INTERPRET=1.

Interpreted Triton runs each tile in Python, so the shapes here are small but cover partial query
blocks, partial item tiles, several splits, a dimension that is not a multiple of the d-block,
k up to 100, every float dtype, exclusions and both mask shapes.
"""
import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

if importlib.util.find_spec("triton") is None:
    pytest.skip("triton is not installed (pip install triton)", allow_module_level=True)
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # triton reads it on import: set it before triton loads
triton_topk_module = importlib.import_module("kernels.triton_topk")
if not torch.cuda.is_available() and not triton_topk_module.INTERPRETED:
    pytest.skip("kernels.triton_topk was imported without TRITON_INTERPRET and there is no GPU", allow_module_level=True)

from kernels import topk  # noqa: E402

triton_topk = triton_topk_module.triton_topk
ROOT = Path(__file__).resolve().parents[2]
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def tie_heavy(Q, N, d, dtype, seed):
    """Small integers: sums are exact in every dtype, and equal scores are everywhere."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(-2, 3, (Q, d), generator=g).to(dtype)
    return q.to(DEVICE), torch.randint(-2, 3, (N, d), generator=g).to(dtype).to(DEVICE)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("Q,N,d,k,splits", [(37, 700, 24, 10, 3), (5, 300, 70, 100, 2), (1, 129, 8, 1, 1)])
def test_equals_the_torch_kernel_with_ties_to_the_lower_id(dtype, Q, N, d, k, splits):
    q, items = tie_heavy(Q, N, d, dtype, seed=Q + N)
    s, i = triton_topk(q, items, k, splits=splits)
    rs, ri = topk(q, items, k)
    assert torch.equal(i, ri)
    assert torch.equal(s, rs) and s.dtype == dtype


def test_exclusions_and_both_mask_shapes():
    q, items = tie_heavy(9, 400, 16, torch.float32, seed=3)
    g = torch.Generator().manual_seed(1)
    exclude = [torch.randint(0, 400, (int(n),), generator=g) for n in torch.randint(0, 30, (9,), generator=g)]
    for shape in ((400,), (9, 400)):
        allowed = (torch.rand(shape, generator=g) < 0.4).to(DEVICE)
        s, i = triton_topk(q, items, 20, exclude=exclude, allowed=allowed, splits=2)
        rs, ri = topk(q, items, 20, exclude=exclude, allowed=allowed)
        assert torch.equal(i, ri) and torch.equal(s, rs)


def test_random_floats_and_the_backend_switch():
    g = torch.Generator().manual_seed(0)
    q, items = torch.randn(20, 40, generator=g).to(DEVICE), torch.randn(500, 40, generator=g).to(DEVICE)
    s, i = topk(q, items, 16, backend="triton")
    rs, ri = topk(q, items, 16)
    assert torch.equal(i, ri)  # continuous scores: no ties, one right order
    torch.testing.assert_close(s, rs, atol=1e-5, rtol=1e-5)  # fp32 sums in another order


def test_fewer_eligible_than_k_pad_like_the_torch_kernel():
    q, items = tie_heavy(3, 100, 4, torch.float32, seed=0)
    allowed = torch.zeros(100, dtype=torch.bool, device=DEVICE)
    allowed[[3, 10, 40]] = True
    s, i = triton_topk(q, items, 5, allowed=allowed, exclude=[[10], [], [3, 40]])
    rs, ri = topk(q, items, 5, allowed=allowed, exclude=[[10], [], [3, 40]])
    assert torch.equal(i, ri) and torch.equal(s, rs)
    assert i[2].tolist() == [10, -1, -1, -1, -1]


def test_errors_name_the_problem():
    q, items = tie_heavy(2, 2000, 4, torch.float32, seed=0)
    with pytest.raises(ValueError, match=r"k \+ the longest exclusion list \(240 \+ 30\) exceeds"):
        triton_topk(q, items, 240, exclude=[list(range(30)), []])
    with pytest.raises(ValueError, match="dimension mismatch"):
        triton_topk(q, items[:, :3], 5)
    with pytest.raises(ValueError, match="unknown top-k backend 'faiss'"):
        topk(q, items, 5, backend="faiss")


@pytest.mark.parametrize("dtype,log_k", [("float32", 4), ("bfloat16", 4)])
def test_compiles_for_a_hopper_gpu(dtype, log_k):
    """The interpreter runs the kernel's Python; the real compiler (to sm_90, no GPU needed) checks the rest."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env["TRITON_DEFAULT_FP_FUSION"] = "1"  # Triton 3.9's default, stated to silence its warning
    worker = Path(__file__).with_name("triton_compile_worker.py")
    res = subprocess.run([sys.executable, str(worker), dtype, str(log_k)], env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0 and "compiled" in res.stdout, res.stderr[-3000:]
