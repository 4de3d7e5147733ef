"""Grounding: names are parsed from lists and inline text and get catalog items and statuses."""
import pytest

from recai.gen.grounding import clean_name, ground, parse_names
from recai.text.fuzzy import TitleMatcher

TITLES = ["Heat (1995)", "Casino (1995)", "Goodfellas (1990)", "Matrix, The (1999)", "Alien (1979)"]


@pytest.fixture(scope="module")
def matcher():
    return TitleMatcher(TITLES)


def test_numbered_bulleted_and_inline_lists():
    assert parse_names("Sure!\n1. Heat (1995)\n2) **Casino** - a long, great film\n3. Goodfellas") == (
        ["Heat (1995)", "Casino", "Goodfellas"], True)
    assert parse_names("- The Matrix\n* Alien by Ridley Scott\n• Heat") == (["The Matrix", "Alien", "Heat"], True)
    assert parse_names('You might like "Heat" and "Casino".') == (["Heat", "Casino"], False)
    assert parse_names("Try these: Heat, Casino and Goodfellas.") == (["Heat", "Casino", "Goodfellas"], False)
    assert parse_names("I have no idea.") == ([], False)
    assert clean_name("  *Heat (1995)* — tense  ") == "Heat (1995)"


def test_statuses(matcher):
    text = "1. Heat (1995)\n2. The Matrix\n3. Heat\n4. Zorbulon Returns (2031)\n5. Casino\n6. Alien"
    g = ground(text, matcher, history=[4], count=2)
    assert [(x.name, x.status) for x in g.items] == [
        ("Heat (1995)", "ok"), ("The Matrix", "ok"), ("Heat", "repeat"), ("Zorbulon Returns (2031)", "invalid"),
        ("Casino", "over_count"), ("Alien", "in_history")]
    assert g.valid == [0, 3] and g.is_list and g.rate("invalid") == pytest.approx(1 / 6)
    assert text[:g.items[1].end].endswith("The Matrix")  # where the name ends, for token rewards
    assert ground("", matcher).items == [] and ground("", matcher).rate("invalid") == 0.0
