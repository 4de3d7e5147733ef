"""Rankings read back from JSON arrays, numbered lists and loose text; failures keep prompt order."""
from recai.knowledge.parse import parse_ranking

TITLES = ["Heat (1995)", "Casino (1995)", "Ronin (1998)", "Alien (1979)"]


def test_json_titles_and_numbers():
    assert parse_ranking('Sure: ["Ronin (1998)", "heat"]', TITLES).order == [2, 0, 1, 3]
    got = parse_ranking("[4, 1, 4, 9]", TITLES)
    assert got.order == [3, 0, 1, 2] and got.listed == 2


def test_numbered_list_with_typos_and_inventions():
    got = parse_ranking("1. Alien\n2. **Casino** - long\n3. Zorbulon (2031)\n4. Casino", TITLES)
    assert got.order == [3, 1, 0, 2] and got.listed == 2 and not got.failed


def test_unreadable_reply_is_a_failure_in_prompt_order():
    got = parse_ranking("I cannot help with that.", TITLES)
    assert got.failed and got.order == [0, 1, 2, 3]
    assert parse_ranking("[not json", TITLES).failed
