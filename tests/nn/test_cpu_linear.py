"""Prepacked CPU linears give the same answer as nn.Linear and never serve stale weights."""
import pytest
import torch
from torch import nn

from recai.nn import cpu_linear, cpu_ops
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


@pytest.fixture
def rows_kernel():
    if not cpu_linear.rows_kernel():
        pytest.skip(f"recai's CPU operators did not build here: {cpu_ops.why_not()}")


@pytest.fixture
def no_rows_kernel(monkeypatch):
    monkeypatch.setattr(cpu_linear, "_kernel", {"rows": False})  # as where no compiler is installed


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.bfloat16, 1e-2)])
@pytest.mark.parametrize("bias", [False, True])
def test_a_single_row_goes_through_the_rows_kernel_on_the_joined_weight(rows_kernel, dtype, tol, bias):
    mods = layers(bias, dtype)
    x = torch.randn(1, 1, 32, dtype=dtype)
    with torch.inference_mode():
        got = fused_linear(mods, x)
        joint = joint_linear(mods, x)
        assert cpu_linear.layout(mods, 1, dtype)[0] == cpu_linear.ROWS
    plan = mods[0].__dict__["_recai_plan"]
    assert plan._joined is not None and plan._transposed is None and plan._packed is None
    refs = [m(x) for m in mods]
    for y, ref in zip(got, refs):
        assert y.dtype == dtype and torch.allclose(y.float(), ref.float(), atol=tol)
    assert torch.equal(joint, torch.cat(got, -1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("n_in", [7, 16, 50, 576])  # shorter than, equal to and past the 16-wide chunks
def test_rows_kernel_equals_an_fp32_matmul(rows_kernel, dtype, n_in):
    torch.manual_seed(n_in)
    w, b = torch.randn(300, n_in).to(dtype), torch.randn(300).to(dtype)
    x = torch.randn(1, n_in).to(dtype)
    ref = (x.double() @ w.double().t() + b.double()).to(dtype)  # one rounding, as the kernel does
    got = torch.ops.recai.rows_linear(x, w, b)
    assert got.dtype == dtype and got.shape == (1, 300)
    if dtype == torch.float32:
        assert torch.allclose(got.double(), x.double() @ w.double().t() + b.double(), atol=1e-4)
    else:  # fp32 accumulation rounded once to bf16: within one bf16 step of the exact result
        assert ((got.float() - ref.float()).abs() <= ref.float().abs() * 2 ** -7 + 1e-3).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rows_kernel_gives_each_row_of_a_batch_the_bits_it_gets_alone(rows_kernel, dtype):
    torch.manual_seed(1)
    w, b, x = torch.randn(100, 40).to(dtype), torch.randn(100).to(dtype), torch.randn(16, 40).to(dtype)
    batch = torch.ops.recai.rows_linear(x, w, b)
    assert torch.equal(batch, torch.cat([torch.ops.recai.rows_linear(x[i:i + 1], w, b) for i in range(16)]))
    exact = x.double() @ w.double().t() + b.double()
    assert torch.allclose(batch.double(), exact, atol=1e-4 if dtype == torch.float32 else 0.15)


def test_bf16_batches_take_the_rows_kernel_where_this_cpu_cannot_pack_them(rows_kernel, monkeypatch):
    monkeypatch.setattr(cpu_linear, "_no_packed", {torch.bfloat16})
    mods = layers(True, torch.bfloat16)
    x = torch.randn(5, 32, dtype=torch.bfloat16)
    with torch.inference_mode():
        assert cpu_linear.layout(mods, 5, torch.bfloat16)[0] == cpu_linear.ROWS
        assert cpu_linear.layout(mods, 5, torch.float32) is None  # the modules are bf16
        got = joint_linear(mods, x)
    assert torch.allclose(got.float(), torch.cat([m(x) for m in mods], -1).float(), atol=2e-2)


def test_rows_kernel_does_not_depend_on_the_thread_count(rows_kernel):
    torch.manual_seed(0)
    w, x = torch.randn(4096, 300).bfloat16(), torch.randn(3, 300).bfloat16()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = [torch.ops.recai.rows_linear(x[:n], w, None) for n in (1, 3)]
        torch.set_num_threads(max(2, threads))
        many = [torch.ops.recai.rows_linear(x[:n], w, None) for n in (1, 3)]
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(one, many))


@pytest.mark.parametrize("x,w,match", [
    (torch.randn(17, 8), torch.randn(4, 8), "1 to 16 rows expected"),
    (torch.randn(1, 8), torch.randn(8, 4).t(), "must be contiguous"),
    (torch.randn(1, 8), torch.randn(4, 8).bfloat16(), "one dtype"),
    (torch.randn(1, 8), torch.randn(4, 9), "weight .out, in. expected"),
])
def test_rows_kernel_rejects_what_it_cannot_compute(rows_kernel, x, w, match):
    with pytest.raises(RuntimeError, match=match):
        torch.ops.recai.rows_linear(x, w, None)


@pytest.mark.parametrize("bias", [False, True])
def test_without_the_kernel_a_single_fp32_row_uses_the_joined_transposed_weight(no_rows_kernel, bias):
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


def test_without_the_kernel_one_linear_takes_the_transposed_copy_only_when_wide(no_rows_kernel):
    torch.manual_seed(0)
    wide, narrow = nn.Linear(16, 48, bias=True), nn.Linear(48, 16)
    with torch.inference_mode():
        x = torch.randn(1, 1, 16)
        assert torch.allclose(linear(wide, x), wide(x), atol=1e-6)
        y = torch.randn(1, 48)
        assert torch.equal(linear(narrow, y), narrow(y))
    assert wide.__dict__["_recai_plan"]._transposed is not None
    assert "_recai_plan" not in narrow.__dict__  # the down-projection shape keeps the module's own path


@pytest.mark.parametrize("rows", [1, 3])  # joined (or transposed) copy / packed copy
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


@pytest.mark.parametrize("rows", [1, 3])  # joined (or transposed) copy / packed copy
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


@pytest.mark.parametrize("rows", [1, 3])  # joined (or transposed) copy / packed copy
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
