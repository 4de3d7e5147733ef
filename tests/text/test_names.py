"""Names in replies: list lines, quoted titles and inline runs, decoration removed."""
from recai.text.names import clean_name, find_names, parse_names


def test_numbered_bulleted_and_inline_lists():
    assert parse_names("Sure!\n1. Heat (1995)\n2) **Casino** - a long, great film\n3. Goodfellas") == (
        ["Heat (1995)", "Casino", "Goodfellas"], True)
    assert parse_names("- The Matrix\n* Alien by Ridley Scott\n• Heat") == (["The Matrix", "Alien", "Heat"], True)
    assert parse_names('You might like "Heat" and "Casino".') == (["Heat", "Casino"], False)
    assert parse_names("Try these: Heat, Casino and Goodfellas.") == (["Heat", "Casino", "Goodfellas"], False)
    assert parse_names("I have no idea.") == ([], False)
    assert clean_name("  *Heat (1995)* — tense  ") == "Heat (1995)"


def test_end_offsets_point_past_each_name():
    text = "Here:\n1. Heat (1995)\n2. Casino - long"
    found, is_list = find_names(text)
    assert is_list
    assert [text[:end].endswith(line) for (_, end), line in zip(found, ["1. Heat (1995)", "2. Casino - long"])] == [
        True, True]
