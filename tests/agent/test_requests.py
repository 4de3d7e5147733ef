"""Request templates: gold plans, item split between training and evaluation, the shipped demo bank."""
import pytest

from recai.agent.requests import RequestGenerator, spoken_title


def test_spoken_titles():
    assert spoken_title("Matrix, The (1999)") == "The Matrix"
    assert spoken_title("Twelve Monkeys (a.k.a. 12 Monkeys) (1995)") == "Twelve Monkeys"
    assert spoken_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)") == "The City of Lost Children"


def test_train_and_eval_use_disjoint_items(small_domain):
    train = RequestGenerator(small_domain, "train", min_popularity=5)
    held = RequestGenerator(small_domain, "eval", min_popularity=5)
    assert all(i % 5 for i in train.items) and all(i % 5 == 0 for i in held.items)
    for ex in held.examples(35):
        named = [t for s in ex.plan for t in small_domain.catalog.titles if t in s.input]
        assert all(small_domain.catalog.titles.index(t) % 5 == 0 for t in named), ex


def test_train_and_eval_describe_disjoint_themes(small_domain):
    train = RequestGenerator(small_domain, "train", min_popularity=5)
    held = RequestGenerator(small_domain, "eval", min_popularity=5)
    assert train.themes and held.themes and not set(train.themes) & set(held.themes)
    described = {s.input for ex in held.examples(70) if ex.intent == "description" for s in ex.plan
                 if s.tool == "soft_filter"}
    trained = {s.input for ex in train.examples(700) if ex.intent == "description" for s in ex.plan
               if s.tool == "soft_filter"}
    assert described and not described & trained


def test_every_family_appears_and_requests_are_distinct(small_domain):
    exs = RequestGenerator(small_domain, "train", seed=3, min_popularity=5).examples(70)
    assert len({e.request for e in exs}) == 70
    assert {e.intent for e in exs} == {"similar", "category", "similar+filter", "question", "candidates",
                                       "description", "popular"}
    with pytest.raises(ValueError, match="split"):
        RequestGenerator(small_domain, "test")


def test_the_shipped_bank_equals_a_rebuild():
    from recai.agent.demos.__main__ import main

    assert main(["--check"]) == 0
