"""kernels.topk against a full score matrix ranked by (score desc, id asc), across shapes, dtypes, masks."""
import importlib
import pytest
import torch

from kernels import topk


def reference(queries, items, k, exclude=None, allowed=None):
    """Full scores in float64, filters as -inf, then the k best with ties to the lower id; -1 / -inf padding."""
    full = queries.double() @ items.double().T
    if allowed is not None:
        full = full.masked_fill(~(allowed if allowed.dim() == 2 else allowed.expand_as(full)), float("-inf"))
    if exclude is not None:
        for r, ids in enumerate(exclude):
            full[r, torch.as_tensor(ids, dtype=torch.long)] = float("-inf")
    # A stable sort keeps equal scores in id order: score desc, then lower id.
    order = torch.argsort(full, dim=1, descending=True, stable=True)[:, :k]
    scores = full.gather(1, order)
    return scores, torch.where(torch.isneginf(scores), -1, order)


def tie_heavy(Q, N, d, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(-2, 3, (Q, d), generator=g).to(dtype), torch.randint(-2, 3, (N, d), generator=g).to(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("Q,N,d,k,block", [(1, 1, 4, 1, 64), (7, 300, 8, 5, 256), (33, 2000, 16, 50, 4096),
                                           (5, 129, 3, 129, 1 << 20), (64, 5000, 32, 100, 8192)])
def test_equals_the_full_ranking_with_ties_to_the_lower_id(dtype, Q, N, d, k, block):
    q, items = tie_heavy(Q, N, d, dtype, seed=Q * N)
    s, i = topk(q, items, k, block_bytes=block * q.element_size())
    rs, ri = reference(q, items, k)
    assert torch.equal(i, ri)
    assert torch.equal(s.double(), rs) and s.dtype == dtype


@pytest.mark.parametrize("seed", range(4))
def test_random_float_scores_match_torch_topk(seed):
    g = torch.Generator().manual_seed(seed)
    q, items = torch.randn(20, 24, generator=g), torch.randn(3000, 24, generator=g)
    s, i = topk(q, items, 17, block_bytes=20 * 500 * 4)
    full = q @ items.T
    rs, ri = full.topk(17, dim=1)
    assert torch.equal(i, ri)  # continuous scores: no ties, so the order is unique
    torch.testing.assert_close(s, rs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("per_query", [False, True])
def test_exclusions_and_allowed_mask(per_query):
    q, items = tie_heavy(9, 700, 6, torch.float32, seed=3)
    g = torch.Generator().manual_seed(1)
    exclude = [torch.randint(0, 700, (int(n),), generator=g) for n in torch.randint(0, 40, (9,), generator=g)]
    shape = (9, 700) if per_query else (700,)
    allowed = torch.rand(shape, generator=g) < 0.3
    s, i = topk(q, items, 25, exclude=exclude, allowed=allowed, block_bytes=9 * 100 * 4)
    rs, ri = reference(q, items, 25, exclude, allowed)
    assert torch.equal(i, ri) and torch.equal(s.double(), rs)
    padded = torch.full((9, 40), -1)
    for r, e in enumerate(exclude):
        padded[r, :len(e)] = e
    assert torch.equal(topk(q, items, 25, exclude=padded, allowed=allowed, block_bytes=9 * 100 * 4)[1], i)


def test_fewer_eligible_items_than_k_pad_with_minus_one():
    q, items = tie_heavy(2, 50, 4, torch.float32, seed=0)
    allowed = torch.zeros(50, dtype=torch.bool)
    allowed[[3, 10, 40]] = True
    s, i = topk(q, items, 5, allowed=allowed, exclude=[[10], []])
    assert sorted(i[0, :2].tolist()) == [3, 40] and i[0, 2:].tolist() == [-1, -1, -1]
    assert torch.isneginf(s[0, 2:]).all() and sorted(i[1, :3].tolist()) == [3, 10, 40]


def test_errors_name_the_problem():
    q, items = torch.randn(2, 4), torch.randn(10, 4)
    with pytest.raises(ValueError, match="dimension mismatch: queries have d=4, items d=5"):
        topk(q, torch.randn(10, 5), 3)
    with pytest.raises(ValueError, match=r"k must be an int in \[1, N=10\], got 11"):
        topk(q, items, 11)
    with pytest.raises(ValueError, match="item matrix is empty"):
        topk(q, torch.randn(0, 4), 1)
    bad = q.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="query row 1 holds NaN or inf"):
        topk(bad, items, 3)
    with pytest.raises(ValueError, match="exclude holds item id 10, outside"):
        topk(q, items, 3, exclude=[[1], [10]])
    with pytest.raises(ValueError, match="allowed must be a bool mask"):
        topk(q, items, 3, allowed=torch.ones(9, dtype=torch.bool))
    with pytest.raises(ValueError, match="one floating dtype"):
        topk(q, items.half(), 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_cpu():
    q, items = tie_heavy(50, 4000, 16, torch.float32, seed=5)
    s, i = topk(q, items, 30, block_bytes=50 * 1000 * 4)
    cs, ci = topk(q.cuda(), items.cuda(), 30, block_bytes=50 * 1000 * 4)
    assert torch.equal(ci.cpu(), i) and torch.equal(cs.cpu(), s)


@pytest.mark.parametrize("k", [1, 5, 16, 50])
@pytest.mark.parametrize("ties", [True, False])
def test_group_screening_of_later_chunks_stays_exact(k, ties, monkeypatch):
    """Chunks of 8192 items in groups of 64 (32 for k > 32): once warmed up, most chunks rank only a few groups."""
    kt = importlib.import_module("kernels.topk")  # the package re-exports the function under this name

    widths = []
    original = kt._block_topk
    monkeypatch.setattr(kt, "_block_topk", lambda block, kk: widths.append(block.shape[1]) or original(block, kk))
    Q, N, d = 10, 60_000, 8
    if ties:
        q, items = tie_heavy(Q, N, d, torch.float32, seed=k)
    else:
        g = torch.Generator().manual_seed(k)
        q, items = torch.randn(Q, d, generator=g), torch.randn(N, d, generator=g)
    g = torch.Generator().manual_seed(7)
    exclude = [torch.randint(0, N, (50,), generator=g) for _ in range(Q)]
    allowed = torch.rand(N, generator=g) < 0.8
    s, i = topk(q, items, k, exclude=exclude, allowed=allowed, block_bytes=Q * 8192 * 4)
    rs, ri = reference(q, items, k, exclude, allowed)
    if ties:  # small integers: exact in every order of summation
        assert torch.equal(i, ri) and torch.equal(s.double(), rs)
    else:  # continuous scores: float32 sums may differ from float64 in the last bits, not in the order
        assert torch.equal(i, ri)
        torch.testing.assert_close(s.double(), rs, atol=1e-5, rtol=1e-5)
    chunks = -(-N // 8192)
    assert any(w < 8192 for w in widths[1:])  # some chunk ranked gathered groups, not all 8192 columns
    assert sum(w == 8192 for w in widths) < chunks  # ... or was skipped
