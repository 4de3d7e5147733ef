"""Ranking metrics: hand-computed cases, a textbook pure-Python reference on random cases, RecBole."""
import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recai.eval.metrics import (
    METRICS,
    MetricAccumulator,
    average_precision,
    evaluate,
    full_ranks,
    hit,
    mrr,
    ndcg,
    precision,
    recall,
    sampled_ranks,
)


# ---- hand-computed values --------------------------------------------------------------------
def test_single_relevant_item_by_hand():
    ranks = torch.tensor([1, 3, 11])
    # rank 1: 1/log2(2) = 1; rank 3: 1/log2(4) = 0.5; rank 11 is outside the top 10: 0.
    assert ndcg(ranks, 10).tolist() == [1.0, 0.5, 0.0]
    assert hit(ranks, 10).tolist() == [1.0, 1.0, 0.0]
    assert recall(ranks, 10).tolist() == [1.0, 1.0, 0.0]
    # One relevant item: MRR = AP = 1/rank inside the cut-off.
    assert mrr(ranks, 10).tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert average_precision(ranks, 10).tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    # precision@10 = hits / 10.
    assert precision(ranks, 10).tolist() == pytest.approx([0.1, 0.1, 0.0])
    # k = 3 still counts rank 3; k = 2 does not.
    assert hit(ranks, 3).tolist() == [1.0, 1.0, 0.0]
    assert hit(ranks, 2).tolist() == [1.0, 0.0, 0.0]


def test_several_relevant_items_by_hand():
    # User 0: relevant at ranks 1 and 3 (and 0 pads). User 1: ranks 2, 5, 8 with k = 4.
    ranks = torch.tensor([[3, 1, 0], [8, 2, 5]])
    k = 4
    # recall: user 0 finds 2 of 2; user 1 finds only rank 2 of its 3 items -> 1/3.
    assert recall(ranks, k).tolist() == pytest.approx([1.0, 1 / 3])
    assert precision(ranks, k).tolist() == pytest.approx([2 / 4, 1 / 4])
    # ndcg user 0: DCG = 1 + 1/log2(4) = 1.5; IDCG over min(2, 4) = 2 slots = 1 + 1/log2(3).
    # ndcg user 1: DCG = 1/log2(3); IDCG over min(3, 4) = 3 slots = 1 + 1/log2(3) + 1/log2(4).
    expected_ndcg = [1.5 / (1 + 1 / math.log2(3)), (1 / math.log2(3)) / (1 + 1 / math.log2(3) + 0.5)]
    assert ndcg(ranks, k).tolist() == pytest.approx(expected_ndcg)
    assert mrr(ranks, k).tolist() == pytest.approx([1.0, 0.5])
    # AP user 0: (1/1 + 2/3) / min(2, 4) = 5/6. User 1: only rank 2 (j = 1) -> (1/2) / min(3, 4) = 1/6.
    assert average_precision(ranks, k).tolist() == pytest.approx([5 / 6, 1 / 6])


def test_more_relevant_items_than_k_can_still_score_one():
    # Five relevant items filling ranks 1..5 with k = 3: ideal list, so NDCG = AP = 1, recall = 3/5.
    ranks = torch.tensor([[1, 2, 3, 4, 5]])
    assert ndcg(ranks, 3).item() == pytest.approx(1.0)
    assert average_precision(ranks, 3).item() == pytest.approx(1.0)
    assert recall(ranks, 3).item() == pytest.approx(0.6)


def test_dtype_and_device_follow_the_input():
    ranks = torch.tensor([2.0, 4.0], dtype=torch.float64)
    assert ndcg(ranks, 5).dtype == torch.float64
    assert ndcg(torch.tensor([2, 4]), 5).dtype == torch.float32
    if torch.cuda.is_available():
        assert ndcg(torch.tensor([2, 4], device="cuda"), 5).device.type == "cuda"


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "10"])
def test_bad_k_is_named(k):
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        ndcg(torch.tensor([1]), k)


def test_bad_ranks_are_named():
    with pytest.raises(ValueError, match=r"got -2 at row 1"):
        hit(torch.tensor([1, -2]), 5)
    with pytest.raises(ValueError, match="row 1 of ranks has no relevant item"):
        recall(torch.tensor([[1, 2], [0, 0]]), 5)
    with pytest.raises(ValueError, match=r"shape \(B,\) or \(B, R\)"):
        mrr(torch.ones(2, 2, 2, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="NaN"):
        mrr(torch.tensor([1.0, float("nan")]), 5)


# ---- producing ranks -------------------------------------------------------------------------
def test_full_ranks_ties():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.1, 0.5]])
    target = torch.tensor([0])
    # Item 1 scores higher; items 2 and 4 tie with the target at 0.5.
    assert full_ranks(scores, target, ties="optimistic").tolist() == [2]  # 1 + 1 greater
    assert full_ranks(scores, target, ties="pessimistic").tolist() == [4]  # 1 + 1 greater + 2 equal
    assert full_ranks(scores, target, ties="average").tolist() == [3.0]


def test_full_ranks_tied_targets_take_distinct_positions():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.1, 0.5]])
    targets = torch.tensor([[0, 2, -1]])
    # Targets 0 and 2 tie with item 4. Optimistic: the targets take positions 2 and 3;
    # pessimistic: item 4 goes first, the targets take 3 and 4. Padding stays 0.
    assert full_ranks(scores, targets, ties="optimistic").tolist() == [[2, 3, 0]]
    assert full_ranks(scores, targets, ties="pessimistic").tolist() == [[3, 4, 0]]
    assert full_ranks(scores, targets, ties="average").tolist() == [[2.5, 3.5, 0.0]]


def test_full_ranks_exclusion_never_drops_a_target():
    scores = torch.tensor([[0.2, 0.9, 0.8, 0.1], [0.2, 0.9, 0.8, 0.1]])
    targets = torch.tensor([0, 3])
    assert full_ranks(scores, targets).tolist() == [3, 4]
    # Row 0 drops items 1 and 2 (and lists its target 0, which stays): rank 1.
    # Row 1 drops item 2 only: item 1 and item 0 remain above item 3 -> rank 3.
    assert full_ranks(scores, targets, exclude=[[1, 2, 0], torch.tensor([2])]).tolist() == [1, 3]
    mask = torch.tensor([[False, True, True, True], [False, False, True, False]])
    assert full_ranks(scores, targets, exclude=mask).tolist() == [1, 3]


def test_full_ranks_excluded_items_do_not_tie_with_a_minus_inf_target():
    scores = torch.tensor([[float("-inf"), 0.5, 0.3, float("-inf")]])
    # Items 1 and 2 excluded; item 3 is a genuine tie at -inf, so pessimistic rank = 1 + 1 = 2.
    assert full_ranks(scores, torch.tensor([0]), exclude=[[1, 2]]).tolist() == [2]


def test_full_ranks_errors():
    scores = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="NaN at index"):
        full_ranks(torch.tensor([[0.0, float("nan")]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="target 4 at row 1 is outside"):
        full_ranks(scores, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="same target item twice"):
        full_ranks(scores, torch.tensor([[1, 1], [0, -1]]))
    with pytest.raises(ValueError, match="item index 9"):
        full_ranks(scores, torch.tensor([0, 1]), exclude=[[9], []])
    with pytest.raises(ValueError, match="ties must be one of"):
        full_ranks(scores, torch.tensor([0, 1]), ties="random")
    with pytest.raises(TypeError, match="integer tensor"):
        full_ranks(scores, torch.tensor([0.0, 1.0]))


def test_sampled_ranks():
    pos = torch.tensor([0.5, 0.9])
    neg = torch.tensor([[0.7, 0.5, 0.1], [0.1, 0.2, 0.3]])
    # Row 0: one negative above, one equal. Row 1: the positive beats all three.
    assert sampled_ranks(pos, neg, ties="pessimistic").tolist() == [3, 1]
    assert sampled_ranks(pos, neg, ties="optimistic").tolist() == [2, 1]
    assert sampled_ranks(pos, neg, ties="average").tolist() == [2.5, 1.0]
    with pytest.raises(ValueError, match="NaN"):
        sampled_ranks(torch.tensor([float("nan")]), torch.zeros(1, 2))


def test_full_ranks_scale_one_pass():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(1000, 10_000, generator=g)
    targets = torch.randint(0, 10_000, (1000,), generator=g)
    ranks = full_ranks(scores, targets)
    expected = 1 + (scores > scores.gather(1, targets[:, None])).sum(1)  # continuous scores: no ties
    assert torch.equal(ranks, expected)


# ---- a textbook reference on random cases ----------------------------------------------------
def reference_ranks(scores, targets, excluded, ties):
    """Sort one user's kept items by score; ties put targets after (pessimistic) or before others."""
    kept = [i for i in range(len(scores)) if i not in excluded or i in targets]
    target_slot = {t: j for j, t in enumerate(targets)}

    def key(i):
        is_target = i in target_slot
        tie_break = (is_target if ties == "pessimistic" else not is_target)
        return (-scores[i], tie_break, target_slot.get(i, 0))

    order = sorted(kept, key=key)
    return [order.index(t) + 1 for t in targets]


def reference_metrics(ranks, k):
    """Textbook top-k metrics from one user's list of relevant ranks."""
    rel = sorted(ranks)
    found = [r for r in rel if r <= k]
    dcg = sum(1 / math.log2(r + 1) for r in found)
    idcg = sum(1 / math.log2(i + 1) for i in range(1, min(len(rel), k) + 1))
    ap = sum((j + 1) / r for j, r in enumerate(rel) if r <= k) / min(len(rel), k)
    return {
        "ndcg": dcg / idcg,
        "recall": len(found) / len(rel),
        "hit": float(bool(found)),
        "precision": len(found) / k,
        "mrr": 1 / rel[0] if rel[0] <= k else 0.0,
        "map": ap,
    }


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_items=st.integers(2, 40), max_targets=st.integers(1, 20),
       ties=st.sampled_from(["pessimistic", "optimistic"]), k=st.integers(1, 12))
def test_matches_reference_on_random_cases(seed, n_items, max_targets, ties, k):
    rng = random.Random(seed)
    B = 4
    # Few distinct score values so that ties are common.
    scores = [[float(rng.randint(0, 5)) for _ in range(n_items)] for _ in range(B)]
    targets, excluded = [], []
    for _ in range(B):
        targets.append(rng.sample(range(n_items), rng.randint(1, min(max_targets, n_items))))
        excluded.append(set(rng.sample(range(n_items), rng.randint(0, n_items // 2))))
    R = max(len(t) for t in targets)
    padded = torch.tensor([t + [-1] * (R - len(t)) for t in targets])

    ranks = full_ranks(torch.tensor(scores), padded, exclude=[sorted(e) for e in excluded], ties=ties)

    for u in range(B):
        expected = reference_ranks(scores[u], targets[u], excluded[u], ties)
        assert ranks[u, :len(targets[u])].tolist() == expected
        assert ranks[u, len(targets[u]):].tolist() == [0] * (R - len(targets[u]))
        for name, fn in METRICS.items():
            assert fn(ranks, k)[u].item() == pytest.approx(reference_metrics(expected, k)[name], abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_items=st.integers(1, 30))
def test_single_target_and_average_ties_agree_with_comparisons(seed, n_items):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 4, (5, n_items), generator=g).float()
    targets = torch.randint(0, n_items, (5,), generator=g)
    s = scores.gather(1, targets[:, None])
    greater, equal_others = (scores > s).sum(1), (scores == s).sum(1) - 1
    assert torch.equal(full_ranks(scores, targets, ties="optimistic"), 1 + greater)
    assert torch.equal(full_ranks(scores, targets, ties="pessimistic"), 1 + greater + equal_others)
    assert torch.equal(full_ranks(scores, targets, ties="average"), 1 + greater + equal_others / 2)
    # Sampled protocol with the other items as "negatives" gives the same ranks.
    negatives = scores.scatter(1, targets[:, None], float("-inf"))
    assert torch.equal(sampled_ranks(s[:, 0], negatives), 1 + greater + equal_others)


# ---- aggregation -----------------------------------------------------------------------------
def test_evaluate_keys_and_means():
    ranks = torch.tensor([1, 3, 11])
    out = evaluate(ranks, ks=(1, 10), metrics=("ndcg", "hit"))
    assert list(out) == ["ndcg@1", "ndcg@10", "hit@1", "hit@10"]
    assert out["ndcg@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert out["hit@1"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(ranks, metrics=("auc",))


def test_accumulator_matches_evaluate_over_batches():
    g = torch.Generator().manual_seed(1)
    ranks = torch.randint(1, 30, (50, 3), generator=g)
    ranks[::4, 1:] = 0  # some users with a single relevant item
    acc = MetricAccumulator(ks=(5, 10), metrics=tuple(METRICS))
    for chunk in ranks.split(7):
        acc.update(chunk)
    expected = evaluate(ranks, ks=(5, 10), metrics=tuple(METRICS))
    assert acc.compute() == pytest.approx(expected)
    acc.reset()
    with pytest.raises(ValueError, match="before any update"):
        acc.compute()


def _distributed_worker(rank, world_size, init_file, ranks, queue):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                                         world_size=world_size)
    acc = MetricAccumulator(ks=(10,), metrics=("ndcg", "hit"))
    acc.update(ranks[rank::world_size])
    queue.put((rank, acc.compute()))
    torch.distributed.destroy_process_group()


def test_accumulator_all_reduces_across_processes(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    ranks = torch.arange(1, 24)  # 23 users split unevenly over two processes
    ctx = torch.multiprocessing.get_context("spawn")
    queue = ctx.SimpleQueue()
    torch.multiprocessing.spawn(_distributed_worker, args=(2, str(tmp_path / "init"), ranks, queue), nprocs=2)
    results = dict(queue.get() for _ in range(2))
    expected = evaluate(ranks, ks=(10,), metrics=("ndcg", "hit"))
    assert results[0] == pytest.approx(expected)
    assert results[1] == pytest.approx(expected)


# ---- RecBole as an independent reference -----------------------------------------------------
@pytest.mark.parametrize("name", ["ndcg", "recall", "hit", "mrr", "map", "precision"])
def test_agrees_with_recbole(name, monkeypatch):
    rb = pytest.importorskip("recbole.evaluator.metrics")
    np = pytest.importorskip("numpy")
    # RecBole 1.2 still spells np.float, which NumPy 1.24 removed.
    monkeypatch.setattr(np, "float", float, raising=False)
    g = torch.Generator().manual_seed(3)
    B, K, R = 200, 20, 6
    ranks = torch.stack([torch.randperm(40, generator=g)[:R] + 1 for _ in range(B)])
    n_rel = torch.randint(1, R + 1, (B,), generator=g)
    ranks[torch.arange(R)[None, :] >= n_rel[:, None]] = 0  # users keep 1..R relevant items
    pos_index = torch.zeros(B, K + 1, dtype=torch.bool)
    pos_index.scatter_(1, torch.where((ranks > 0) & (ranks <= K), ranks - 1, K), True)
    pos_index, pos_len = pos_index[:, :K].numpy(), n_rel.numpy()

    cls = {"ndcg": rb.NDCG, "recall": rb.Recall, "hit": rb.Hit, "mrr": rb.MRR, "map": rb.MAP,
           "precision": rb.Precision}[name]
    metric = cls({"topk": [K], "metric_decimal_place": 6})
    needs_len = name in ("ndcg", "recall", "map")
    theirs = metric.metric_info(pos_index, pos_len) if needs_len else metric.metric_info(pos_index)  # (B, K)
    for k in range(1, K + 1):
        ours = METRICS[name](ranks, k).double().numpy()
        assert ours == pytest.approx(theirs[:, k - 1], abs=1e-6), f"{name}@{k}"
