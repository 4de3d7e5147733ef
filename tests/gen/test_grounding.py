"""Grounding: names are parsed from lists and inline text and get catalog items and statuses."""
import pytest

from recai.gen.grounding import ground
from recai.text.fuzzy import TitleMatcher

TITLES = ["Heat (1995)", "Casino (1995)", "Goodfellas (1990)", "Matrix, The (1999)", "Alien (1979)"]


@pytest.fixture(scope="module")
def matcher():
    return TitleMatcher(TITLES)


def test_statuses(matcher):
    text = "1. Heat (1995)\n2. The Matrix\n3. Heat\n4. Zorbulon Returns (2031)\n5. Casino\n6. Alien"
    g = ground(text, matcher, history=[4], count=2)
    assert [(x.name, x.status) for x in g.items] == [
        ("Heat (1995)", "ok"), ("The Matrix", "ok"), ("Heat", "repeat"), ("Zorbulon Returns (2031)", "invalid"),
        ("Casino", "over_count"), ("Alien", "in_history")]
    assert g.valid == [0, 3] and g.is_list and g.rate("invalid") == pytest.approx(1 / 6)
    assert text[:g.items[1].end].endswith("The Matrix")  # where the name ends, for token rewards
    assert ground("", matcher).items == [] and ground("", matcher).rate("invalid") == 0.0
