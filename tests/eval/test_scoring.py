"""Scores of crafted answers: list ranks by RecAI's similarity, errors, multiple-choice accuracy."""
import math

import pytest

from recai.eval.scoring import answer_names, score_choices, score_lists, target_rank
from recai.eval.task_data import EvalItem
from recai.eval.titles import TrigramTfidf

TITLES = ["Heat (1995)", "Casino (1995)", "Ronin (1998)", "Alien (1979)", "Fargo (1996)", "Toy Story (1995)"]


def test_answer_names_and_rank():
    t = TrigramTfidf(TITLES)
    assert answer_names("1. Heat\n2. Fargo") == ["Heat", "Fargo"]
    assert answer_names("Heat, Fargo, Alien") == ["Heat", "Fargo", "Alien"]
    assert answer_names("") == [] and answer_names("%%% ...") == []
    assert target_rank(["casino", "ronin (1998)"], "Ronin (1998)", t) == 2
    assert target_rank(["casino"], "Ronin (1998)", t) == 0


def test_list_metrics_and_garbage():
    t = TrigramTfidf(TITLES)
    items = [EvalItem("a", "retrieval", "p", "Ronin (1998)", ["Heat (1995)"]),
             EvalItem("b", "retrieval", "p", "Fargo (1996)", ["Heat (1995)"]),
             EvalItem("c", "retrieval", "p", "Alien (1979)", [])]
    answers = {"a": "1. Casino\n2. Ronin\n3. Heat", "b": "1. Fargo\n2. Fargo", "c": "%%%"}
    s = score_lists(items, answers, t)
    assert s["hit@1"] == pytest.approx(1 / 3) and s["hit@5"] == pytest.approx(2 / 3)
    assert s["ndcg@5"] == pytest.approx((1 / math.log2(3) + 1) / 3)
    assert s["history_error_rate"] == pytest.approx(1 / 3) and s["duplicate_error_rate"] == pytest.approx(1 / 3)
    assert s["no_list"] == pytest.approx(1 / 3)  # "%%%" names nothing


def test_choices():
    cands = ["A. Heat (1995)", "B. Casino (1995)", "C. Ronin (1998)"]
    items = [EvalItem(f"m{i}", "seq_ranking_mc", "p", "", [], cands, answer) for i, answer in enumerate("ABC")]
    s = score_choices(items, {"m0": "A", "m1": "I think Casino (1995).", "m2": "no idea"})
    assert s == {"items": 3, "acc@1": pytest.approx(2 / 3), "none_ratio": pytest.approx(1 / 3)}
