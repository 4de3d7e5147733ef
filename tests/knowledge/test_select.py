"""The knowledge budget is never exceeded, whatever the facts, the budget or the tokenizer."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recai.knowledge.facts import KINDS, Fact, TokenCounter
from recai.knowledge.select import render, select, turn_order
from recai.text import Tokenizer


@pytest.fixture(scope="module")
def sentencepiece(stories_dir):
    return Tokenizer.from_pretrained(stories_dir / "tok512.model")


facts_strategy = st.lists(st.builds(Fact, st.sampled_from(KINDS), st.text(min_size=1, max_size=80),
                                    st.floats(-5, 5, allow_nan=False), st.one_of(st.none(), st.integers(0, 6))),
                          max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(facts=facts_strategy, budget=st.integers(0, 300), notes=st.lists(st.text(min_size=1, max_size=60), max_size=3),
       exact=st.booleans())
def test_budget_is_never_exceeded(sentencepiece, facts, budget, notes, exact):
    count = TokenCounter(sentencepiece) if exact else TokenCounter(chars_per_token=3.5)
    sel = select(facts, budget, count, notes)
    assert sel.tokens == count(render(sel.facts, sel.notes)) <= budget
    assert set(sel.facts) <= set(facts) and set(sel.notes) <= set(notes)


def test_kinds_take_turns_and_candidates_share():
    facts = [Fact("attributes", f"a{i}", 10 - i, item=0 if i < 3 else i) for i in range(5)] + \
            [Fact("kg", f"k{i}", 1 - i, item=i) for i in range(2)]
    order = [f.text for f in turn_order(facts, per_item=2)]
    # a2 is a third fact about item 0: it waits until every other candidate had its turn.
    assert order == ["a0", "k0", "a1", "k1", "a3", "a4", "a2"]


def test_a_generous_budget_keeps_everything_and_zero_keeps_nothing():
    facts = [Fact("kg", f"path {i}", i, i) for i in range(4)]
    count = TokenCounter()
    assert len(select(facts, 10_000, count).facts) == 4
    assert select(facts, 0, count).facts == []
    with pytest.raises(ValueError, match="budget"):
        select(facts, -1, count)
