"""Alignment tasks: answers come from the target model, every slot marker has its vector."""
import re

import pytest
import torch

from recai.explain.target import TargetModel
from recai.explain.tasks import MODES, TASKS, AlignTaskBuilder


def users_of(interactions):
    seqs = interactions.sequences()
    return [(u, [int(i) for i in seqs[u]]) for u in range(len(seqs))]


@pytest.mark.parametrize("mode", MODES)
def test_every_marker_has_a_vector(mode, catalog, interactions, sasrec):
    b = AlignTaskBuilder(catalog, TargetModel(sasrec), users_of(interactions), mode, seed=2)
    for ex in b.examples(60, {t: 1.0 for t in TASKS}):
        markers = re.findall(r"<user>|<item>", ex.prompt)
        assert len(markers) == len(ex.vectors), (ex.task, ex.prompt)
        if mode == "behaviour":
            assert not markers
        for m, v in zip(markers, ex.vectors):
            assert v.shape == (16,)


def test_answers_are_the_targets(catalog, interactions, sasrec):
    target = TargetModel(sasrec)
    b = AlignTaskBuilder(catalog, target, users_of(interactions), "hybrid", seed=0)
    user, history = b.users[3]
    titles = catalog.display_titles()
    assert b.next_item(user, history).response == "1. " + titles[target.top(user, history, 1)[0]]
    r = b.ranking(user, history)
    scores = target.scores(user, history)
    assert r.items == sorted(r.candidates, key=lambda c: -float(scores[c]))[:5]
    assert not set(r.candidates) & set(history) and len(set(r.candidates)) == 10
    for positive in (True, False):
        c = b.classify(user, history, positive=positive)
        bar = int(re.search(r"top (\d+)", c.prompt).group(1))
        rank = int((scores > scores[c.items[0]]).sum())
        assert c.label is positive and (rank < bar) is positive and c.response == ("Yes." if positive else "No.")
    e = b.explain(user, history, item=r.items[0])
    assert e.response.startswith(f"The recommender ranks {titles[r.items[0]]} #")


def test_next_item_k_draws_answers_from_the_targets_top_k(catalog, interactions, sasrec):
    target = TargetModel(sasrec)
    b = AlignTaskBuilder(catalog, target, users_of(interactions), "behaviour", seed=0, next_k=5)
    user, history = b.users[3]
    top5 = target.top(user, history, 5)
    answers = [b.next_item(user, history) for _ in range(40)]
    assert all(ex.items[0] in top5 and ex.response == "1. " + b.titles[ex.items[0]] for ex in answers)
    assert len({ex.items[0] for ex in answers}) > 2  # spread over the list, not always the top item
    with pytest.raises(ValueError, match="next_k must be >= 1"):
        AlignTaskBuilder(catalog, target, users_of(interactions), "behaviour", next_k=0)


def test_user_vectors_are_the_models_own(interactions, sasrec, mf):
    history = [int(i) for i in interactions.sequences()[0]]
    s, m = TargetModel(sasrec), TargetModel(mf)
    assert torch.equal(s.user_vector(0, history), sasrec.sequence_vectors([history])[0])
    assert torch.equal(m.user_vector(0, history), mf.net.user_emb.weight[0].detach())
    assert torch.allclose(s.items @ s.user_vector(0, history), sasrec.score(histories=[history])[0], atol=1e-5)


def test_bad_users_items_and_models_are_named(interactions, sasrec, mf):
    s, m = TargetModel(sasrec), TargetModel(mf)
    with pytest.raises(ValueError, match="item index 99 is unknown to the sasrec model \\(24 items\\)"):
        s.user_vector(0, [1, 99])
    with pytest.raises(ValueError, match="user 500 is unknown to the BPR-MF model \\(40 training users\\)"):
        m.user_vector(500, [1])
    with pytest.raises(ValueError, match="no history"):
        s.user_vector(3, [])
    with pytest.raises(ValueError, match="item index -1"):
        s.item_vector(-1)
    with pytest.raises(ValueError, match="explains SASRec or BPR-MF"):
        TargetModel(object())
    with pytest.raises(ValueError, match="unknown alignment mode 'text'"):
        AlignTaskBuilder(None, s, [(0, [1])], "text")


def test_cli_task_mix_is_parsed_checked_and_followed(catalog, interactions, sasrec):
    import argparse

    from recai.explain.cli import _mix

    mix = _mix("next_item=0.5, classify=0.5")
    assert mix == {"next_item": 0.5, "classify": 0.5}
    b = AlignTaskBuilder(catalog, TargetModel(sasrec), users_of(interactions), "behaviour", seed=1)
    assert {ex.task for ex in b.examples(40, mix)} == {"next_item", "classify"}
    for bad, says in [("nxt=1", "TASK one of"), ("classify=x", "not a number"), ("classify=-1", ">= 0"),
                      ("classify=0", "positive weight"), ("", "positive weight")]:
        with pytest.raises(argparse.ArgumentTypeError, match=says):
            _mix(bad)
