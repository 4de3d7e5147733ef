"""Multiple-choice parsing: letters first, then titles, then fuzzy names; None otherwise."""
import pytest

from recai.eval.choices import parse_choice

CANDS = ["Heat (1995)", "Alien (1979)", "Aliens (1986)", "Casino (1995)"]


@pytest.mark.parametrize("reply, letter", [
    ("B", "B"), ("(C)", "C"), ("D. Casino (1995)", "D"), ("A) Heat", "A"), ("The answer is C.", "C"),
    ("Answer: b", "B"), ("I pick option D because...", "D"),
])
def test_letters(reply, letter):
    assert parse_choice(reply, CANDS) == letter


def test_titles_then_fuzzy_then_none():
    assert parse_choice("A film like Aliens (1986) fits best.", CANDS) == "C"  # not the article "A"
    assert parse_choice("I would go with alien, the 1979 one", CANDS) == "B"
    assert parse_choice("1. Casnio", CANDS) == "D"  # a typo: fuzzy
    assert parse_choice("No idea, sorry.", CANDS) is None
    assert parse_choice("", CANDS) is None and parse_choice("J", CANDS) is None  # J is beyond 4 candidates
    assert parse_choice("A", []) is None
