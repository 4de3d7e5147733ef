"""Fidelity scoring on crafted replies; generated replies are reproducible."""
import math

import pytest
import torch

from recai.explain.evaluate import eval_examples, generate_replies, score_fidelity
from recai.explain.projector import Projector, SlotEmbedding
from recai.explain.target import TargetModel
from recai.explain.tasks import AlignTaskBuilder
from recai.text.fuzzy import TitleMatcher


def setup(catalog, interactions, sasrec, mode="hybrid"):
    seqs = interactions.sequences()
    users = [(u, [int(i) for i in seqs[u]]) for u in range(4)]
    target = TargetModel(sasrec)
    return target, eval_examples(AlignTaskBuilder(catalog, target, users, mode, seed=5), users)


def test_perfect_and_wrong_replies(catalog, interactions, sasrec):
    target, examples = setup(catalog, interactions, sasrec)
    matcher = TitleMatcher(catalog.display_titles())
    perfect = score_fidelity(examples, [e.response for e in examples], matcher, target)
    assert (perfect.users, perfect.hit1, perfect.hit10, perfect.ranking_ndcg5, perfect.classify_accuracy,
            perfect.history_recall) == (4, 1.0, 1.0, 1.0, 1.0, 1.0)
    wrong = ["I don't know." if e.task != "classify" else ("No." if e.label else "Yes.") for e in examples]
    bad = score_fidelity(examples, wrong, matcher, target)
    assert (bad.hit1, bad.hit10, bad.ranking_ndcg5, bad.classify_accuracy, bad.history_recall) == (0, 0, 0, 0, 0)
    # Half the ranking right: the target's 1st and 2nd in places 2 and 1.
    titles = catalog.display_titles()
    swapped = [f"1. {titles[e.items[1]]}\n2. {titles[e.items[0]]}" if e.task == "ranking" else e.response
               for e in examples]
    part = score_fidelity(examples, swapped, matcher, target).ranking_ndcg5
    assert 0.3 < part < 0.7


def test_replies_are_reproducible(tiny_model, tokenizer, catalog, interactions, sasrec):
    target, examples = setup(catalog, interactions, sasrec)
    torch.manual_seed(0)
    slots = SlotEmbedding.install(tiny_model, Projector(target.dim, 32))
    a = generate_replies(tiny_model, tokenizer, examples[:6], slots, target.dim, max_new_tokens=8, progress=False)
    b = generate_replies(tiny_model, tokenizer, examples[:6], slots, target.dim, max_new_tokens=8,
                         batch_size=3, progress=False)
    assert a == b and all(isinstance(t, str) for t in a)


def test_a_task_subset_asks_the_same_prompts(catalog, interactions, sasrec):
    _, full = setup(catalog, interactions, sasrec)
    seqs = interactions.sequences()
    users = [(u, [int(i) for i in seqs[u]]) for u in range(4)]
    sub = eval_examples(AlignTaskBuilder(catalog, TargetModel(sasrec), users, "hybrid", seed=5), users,
                        tasks=("next_item", "classify"))
    assert [e.prompt for e in sub] == [e.prompt for e in full if e.task in ("next_item", "classify")]
    with pytest.raises(ValueError, match="unknown fidelity tasks"):
        eval_examples(AlignTaskBuilder(catalog, TargetModel(sasrec), users, "hybrid"), users, tasks=("nope",))


def test_constrained_next_item_answers_are_real_unseen_titles(tiny_model, tokenizer, catalog, interactions, sasrec):
    from recai.text.title_trie import TitleTrie

    target, examples = setup(catalog, interactions, sasrec)
    titles = catalog.display_titles()
    torch.manual_seed(0)
    slots = SlotEmbedding.install(tiny_model, Projector(target.dim, 32))
    picked = [e for e in examples if e.task in ("next_item", "classify")][:6]  # mixed: two kinds of batch
    replies = generate_replies(tiny_model, tokenizer, picked, slots, target.dim, max_new_tokens=24,
                               batch_size=4, progress=False, trie=TitleTrie(titles, tokenizer))
    assert len(replies) == len(picked)
    matcher = TitleMatcher(titles)
    for ex, reply in zip(picked, replies):
        if ex.task == "next_item":  # an untrained model, yet a real title the user has not seen
            assert reply.startswith("1. ") and reply[3:].strip() in titles, reply
            assert matcher.match(reply[3:].strip()).index not in ex.history
    # A beam search under the same constraint: one real unseen title too, slots fed the same way.
    beamed = generate_replies(tiny_model, tokenizer, picked, slots, target.dim, max_new_tokens=24, batch_size=4,
                              progress=False, trie=TitleTrie(titles, tokenizer), beam=4)
    for ex, reply, greedy in zip(picked, beamed, replies):
        if ex.task == "next_item":
            assert reply.startswith("1. ") and reply[3:] in titles, reply
            assert matcher.match(reply[3:]).index not in ex.history
        else:
            assert reply == greedy
    free = generate_replies(tiny_model, tokenizer, [e for e in picked if e.task == "classify"], slots, target.dim,
                            max_new_tokens=24, progress=False)
    assert free == [r for e, r in zip(picked, replies) if e.task == "classify"]  # others decode as without a trie


def test_the_cli_lists_the_same_fidelity_tasks():
    from recai.explain import cli, evaluate

    assert cli.TASKS == evaluate.TASKS


def test_the_random_order_reference_is_the_mean_over_every_order(catalog, interactions, sasrec):
    import itertools
    import random

    from recai.explain.evaluate import random_order_ndcg5

    target, examples = setup(catalog, interactions, sasrec)
    ex = next(e for e in examples if e.task == "ranking")
    titles = catalog.display_titles()
    matcher = TitleMatcher(titles)
    rng = random.Random(0)
    orders = [rng.sample(ex.candidates, len(ex.candidates)) for _ in range(400)]
    scores = [score_fidelity([ex], ["\n".join(titles[i] for i in o[:5])], matcher, target).ranking_ndcg5
              for o in orders]
    assert abs(sum(scores) / len(scores) - random_order_ndcg5(len(ex.candidates))) < 0.03
    # With exactly five candidates every order lists all five: the exact mean over the 120 orders.
    gains = [5, 4, 3, 2, 1]
    ideal = sum(g / math.log2(r + 2) for r, g in enumerate(gains))
    exact = sum(sum(g / math.log2(r + 2) for r, g in enumerate(p)) for p in itertools.permutations(gains)) / 120
    assert random_order_ndcg5(5) == pytest.approx(exact / ideal)


@pytest.mark.parametrize("extra, says", [(["--beam", "0", "--constrained"], "--beam must be >= 1"),
                                         (["--beam", "4"], "add --constrained")])
def test_the_cli_checks_the_beam_before_loading_anything(extra, says):
    from recai.cli import main

    with pytest.raises(SystemExit, match=says):
        main(["eval", "explainer", "--untrained", "--mode", "hybrid", *extra])


class AlwaysA:
    """A judge that prefers whichever explanation it reads first (a position-biased judge)."""

    def __init__(self):
        self.prompts = []

    def chat(self, messages, max_tokens=256, **_):
        self.prompts.append(messages[-1]["content"])
        return ('{"A": {"informativeness": 3, "persuasiveness": 3, "helpfulness": 3}, '
                '"B": {"informativeness": 1, "persuasiveness": 1, "helpfulness": 1}, "winner": "A"}')


def test_explanations_are_judged_against_the_reference_models(tiny_model, tokenizer, catalog, interactions, sasrec):
    from types import SimpleNamespace

    from recai.explain.cli import judge_explanations_of
    from recai.explain.evaluate import explanation_questions
    from recai.nn.llama import Llama

    target = TargetModel(sasrec)
    seqs = interactions.sequences()
    users = [(u, [int(i) for i in seqs[u]]) for u in range(4)]
    s = SimpleNamespace(target=target, eval_users=users, data=SimpleNamespace(catalog=catalog),
                        split=SimpleNamespace(train=interactions),
                        builder=lambda us, mode, seed: AlignTaskBuilder(catalog, target, us, mode, seed=seed))
    torch.manual_seed(0)
    slots = SlotEmbedding.install(tiny_model, Projector(target.dim, 32))
    torch.manual_seed(1)
    reference = Llama(tiny_model.cfg).eval()
    judge = AlwaysA()
    out = judge_explanations_of(tiny_model, tokenizer, slots, (reference, tokenizer), s, "hybrid", users, judge)

    # Both sides explain the target's top unseen item; the explainer reads the hybrid prompt (with
    # vectors), the reference the text-only one.
    hybrid, text = (explanation_questions(AlignTaskBuilder(catalog, target, users, m), users)
                    for m in ("hybrid", "behaviour"))
    assert [q.items[0] for q in hybrid] == [target.top(u, h, 1)[0] for u, h in users] == [q.items[0] for q in text]
    mine = generate_replies(tiny_model, tokenizer, hybrid, slots, target.dim, progress=False)
    theirs = generate_replies(reference, tokenizer, text, progress=False)
    assert [p["explainer"] for p in out["pairs"]] == mine and [p["base"] for p in out["pairs"]] == theirs
    titles = catalog.display_titles()
    assert [p["item"] for p in out["pairs"]] == [titles[q.items[0]] for q in hybrid]
    # The explainer is shown first in even rows, second in odd ones: a judge that always picks the
    # first-shown side wins half and loses half, and the tally says it always named the first.
    assert len(judge.prompts) == 4 and all(f"Recommended movie: {p['item']}." in prompt
                                           for p, prompt in zip(out["pairs"], judge.prompts))
    t = out["tally"]
    assert (t["judged"], t["win_rate"], t["loss_rate"], t["failures"], t["first_shown_rate"]) == (4, 0.5, 0.5, 0, 1.0)
    assert t["informativeness_mean"] == 2.0  # 3 when shown first, 1 when second


def test_a_projector_for_another_target_is_refused_before_generating(tiny_model, sasrec, mf):
    from recai.explain.cli import check_projector

    slots = SlotEmbedding.install(tiny_model, Projector(TargetModel(sasrec).dim, 32))
    check_projector(slots, TargetModel(sasrec), "run/adapter")
    with pytest.raises(SystemExit, match=f"run/adapter: the projector reads {TargetModel(sasrec).dim}-dimensional "
                                         f"vectors but the target model's are {TargetModel(mf).dim}-dimensional"):
        check_projector(slots, TargetModel(mf), "run/adapter")


@pytest.mark.parametrize("extra, says", [(["--judge", "x", "--explanations", "0"], "--explanations must be >= 1"),
                                         (["--judge", "some-local-model", "--api-base", "http://h"],
                                          "--api-base is for an openai:MODEL judge")])
def test_the_cli_checks_the_judge_options_before_loading_anything(extra, says):
    from recai.cli import main

    with pytest.raises(SystemExit, match=says):
        main(["eval", "explainer", "--untrained", "--mode", "hybrid", *extra])
