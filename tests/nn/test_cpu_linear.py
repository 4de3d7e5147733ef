"""Prepacked CPU linears give the same answer as nn.Linear and never serve stale weights."""
import pytest
import torch
from torch import nn

from recai.nn import cpu_linear
from recai.nn.cpu_linear import fused_linear, joint_linear, linear

pytestmark = pytest.mark.skipif(not cpu_linear._enabled, reason="this torch build has no oneDNN linear ops")


def layers(bias=False, dtype=torch.float32):
    torch.manual_seed(0)
    return tuple(nn.Linear(32, n, bias=bias).to(dtype) for n in (32, 8, 8))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
@pytest.mark.parametrize("bias", [False, True])
def test_fused_equals_separate(dtype, tol, bias):
    mods = layers(bias, dtype)
    x = torch.randn(3, 1, 32, dtype=dtype)
    with torch.inference_mode():
        got = fused_linear(mods, x)
    for m, y in zip(mods, got):
        ref = m(x)
        assert y.shape == ref.shape
        assert (y.float() - ref.float()).abs().max().item() <= tol * max(1.0, ref.abs().max().item())
    plan = mods[0].__dict__["_recai_plan"]
    if dtype in cpu_linear._no_packed:  # this CPU cannot pack bf16: one matmul on the joined weight
        assert plan._joined is not None and plan._packed is None
    else:
        assert plan._packed is not None  # the packed path was really taken


@pytest.mark.parametrize("bias", [False, True])
def test_single_fp32_row_uses_the_joined_transposed_weight(bias):
    mods = layers(bias)
    x = torch.randn(1, 1, 32)
    with torch.inference_mode():
        got = fused_linear(mods, x)
        joint = joint_linear(mods, x)
    plan = mods[0].__dict__["_recai_plan"]
    assert plan._transposed is not None and plan._packed is None
    refs = [m(x) for m in mods]
    for y, ref in zip(got, refs):
        assert torch.allclose(y, ref, atol=1e-6)
    assert torch.allclose(joint, torch.cat(refs, -1), atol=1e-6)


def test_joint_linear_falls_back_to_concatenated_modules():
    mods = layers()
    x = torch.randn(2, 32, requires_grad=True)  # autograd on: the plain modules run
    y = joint_linear(mods, x)
    assert y.shape == (2, 48)
    y.sum().backward()
    assert all(m.weight.grad is not None for m in mods)


def test_single_fp32_row_through_one_linear_takes_the_transposed_copy_only_when_wide():
    torch.manual_seed(0)
    wide, narrow = nn.Linear(16, 48, bias=True), nn.Linear(48, 16)
    with torch.inference_mode():
        x = torch.randn(1, 1, 16)
        assert torch.allclose(linear(wide, x), wide(x), atol=1e-6)
        y = torch.randn(1, 48)
        assert torch.equal(linear(narrow, y), narrow(y))
    assert wide.__dict__["_recai_plan"]._transposed is not None
    assert "_recai_plan" not in narrow.__dict__  # the down-projection shape keeps the module's own path


@pytest.mark.parametrize("rows", [1, 3])  # transposed joined copy / packed copy
def test_inplace_update_invalidates_the_cached_layouts(rows):
    mods = layers()  # a group: both layouts are copies (joined or packed), so staleness would show
    x = torch.randn(rows, 32)
    with torch.inference_mode():
        before = fused_linear(mods, x)[1]
    with torch.no_grad():
        mods[1].weight.add_(1.0)  # e.g. an optimizer step or a LoRA merge
    with torch.inference_mode():
        after = fused_linear(mods, x)[1]
    assert torch.allclose(after, mods[1](x).detach(), atol=1e-5)
    assert not torch.allclose(before, after)


@pytest.mark.parametrize("rows", [1, 3])  # transposed joined copy / packed copy
def test_swapped_parameter_and_module_are_noticed(rows):
    mods = layers()
    x = torch.randn(rows, 32)
    with torch.inference_mode():
        fused_linear(mods, x)
    mods[1].weight = nn.Parameter(torch.zeros(8, 32))
    with torch.inference_mode():
        assert torch.count_nonzero(fused_linear(mods, x)[1]) == 0
    replaced = (mods[0], nn.Linear(32, 8, bias=False), mods[2])
    with torch.no_grad():
        replaced[1].weight.fill_(1.0)
    with torch.inference_mode():
        out = fused_linear(replaced, x)[1]
    assert torch.allclose(out, x.sum(-1, keepdim=True).expand(rows, 8), atol=1e-5)


@pytest.mark.parametrize("rows", [1, 3])  # transposed joined copy / packed copy
def test_dtype_change_is_noticed(rows):
    (m,) = layers()[:1]
    x = torch.randn(rows, 32)
    with torch.inference_mode():
        linear(m, x)
    m.to(torch.bfloat16)
    with torch.inference_mode():
        y = linear(m, x.bfloat16())
    assert y.dtype == torch.bfloat16
    assert torch.allclose(y.float(), m(x.bfloat16()).float(), atol=2e-2)


def test_a_dtype_this_cpu_cannot_pack_falls_back_for_that_dtype_only(monkeypatch):
    mods = layers()
    monkeypatch.setattr(cpu_linear, "_no_packed", set())

    def refuse(w, hint):
        if w.dtype == torch.bfloat16:
            raise RuntimeError("bf16 path needs the cpu support avx512bw")  # what oneDNN says on AVX2 CPUs
        return real(w, hint)

    real = torch.ops.mkldnn._reorder_linear_weight
    monkeypatch.setattr(cpu_linear.torch.ops.mkldnn, "_reorder_linear_weight", refuse, raising=False)
    bf = tuple(nn.Linear(32, n, bias=False).to(torch.bfloat16) for n in (32, 8))
    x = torch.randn(3, 32)
    with torch.inference_mode():
        y = joint_linear(bf, x.bfloat16())
        assert torch.allclose(y.float(), torch.cat([m(x.bfloat16()) for m in bf], -1).float(), atol=2e-2)
        assert torch.bfloat16 in cpu_linear._no_packed and cpu_linear._enabled
        fused_linear(mods, x)  # fp32 still packs
    assert mods[0].__dict__["_recai_plan"]._packed is not None


def test_training_and_large_batches_use_the_plain_path():
    (m,) = layers()[:1]
    x = torch.randn(1, 32, requires_grad=True)
    linear(m, x).sum().backward()  # autograd on: must go through nn.Linear and give gradients
    assert m.weight.grad is not None
    with torch.inference_mode():
        big = torch.randn(cpu_linear.MAX_ROWS + 1, 32)
        assert torch.equal(linear(m, big), m(big))
