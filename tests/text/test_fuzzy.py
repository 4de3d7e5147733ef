"""Fuzzy title matching: normalisation, batched edit distance, and TitleMatcher on the shipped catalog."""
import csv
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recai
from recai.text.edit_distance import encode, osa_distance
from recai.text.fuzzy import DEFAULT_THRESHOLD, Match, TitleMatcher
from recai.text.normalize import fold, parse_title, unmove_article

MOVIES = Path(recai.__file__).parent / "data/datasets/ml-latest-small/movies.csv"


@pytest.fixture(scope="module")
def movies():
    with open(MOVIES, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [int(r["movieId"]) for r in rows], [r["title"] for r in rows]


@pytest.fixture(scope="module")
def matcher(movies):
    ids, titles = movies
    return TitleMatcher(titles, ids)


# ---- normalisation ---------------------------------------------------------------------------
def test_fold_case_accents_punctuation_whitespace():
    assert fold("  Amélie,   L'ÉTÉ!!  ") == "amelie lete"
    assert fold("Smørrebrød Straße & Œuvre") == "smorrebrod strasse and oeuvre"
    assert fold("L.A. Confidential") == "la confidential"  # dots join, as people type "LA"
    assert fold("Spider-Man: Homecoming") == "spider man homecoming"
    assert fold("Schindler’s List") == "schindlers list"  # curly apostrophe too


@pytest.mark.parametrize("moved, front", [
    ("Matrix, The", "The Matrix"),
    ("Américain, L'", "L'Américain"),
    ("Ciudad, La", "La Ciudad"),
    ("Himmel über Berlin, Der", "Der Himmel über Berlin"),
    ("Postino, Il", "Il Postino"),
    ("Awfully Big Adventure, An", "An Awfully Big Adventure"),
    ("Monsters, Inc.", "Monsters, Inc."),  # not an article: stays
    ("Paris, Texas", "Paris, Texas"),
])
def test_unmove_article(moved, front):
    assert unmove_article(moved) == front


def test_parse_title_year_alternates_articles():
    p = parse_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)")
    assert (p.main, p.alternates, p.year) == ("the city of lost children", ("la cite des enfants perdus",), 1995)
    p = parse_title("Seven (a.k.a. Se7en) (1995)")
    assert (p.main, p.alternates, p.year) == ("seven", ("se7en",), 1995)
    assert p.full == "seven se7en"
    assert parse_title("Big Bang Theory, The (2007-)").year == 2007
    assert parse_title("Fawlty Towers (1975-1979)").main == "fawlty towers"
    p = parse_title("Hyena Road")
    assert (p.main, p.alternates, p.year) == ("hyena road", (), None)
    # An alternate equal to the main title is not repeated.
    assert parse_title("Dumb & Dumber (Dumb and Dumber) (1994)").alternates == ()
    assert parse_title("(1995)").main == ""


# ---- batched edit distance -------------------------------------------------------------------
def reference_osa(a: str, b: str) -> int:
    """Textbook optimal string alignment distance (Levenshtein + adjacent transposition)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def reference_partial(a: str, b: str) -> int:
    """OSA distance from a to the closest run of whole (space-separated) words of b."""
    starts = [0] + [i + 1 for i, c in enumerate(b) if c == " "]
    ends = [i for i, c in enumerate(b) if c == " "] + [len(b)]
    return min(reference_osa(a, b[i:j]) for i in starts for j in ends if j >= i)


def osa(pairs, partial=False):
    a, a_len = encode([p[0] for p in pairs])
    b, b_len = encode([p[1] for p in pairs])
    return osa_distance(a, a_len, b, b_len, partial=partial).tolist()


def test_osa_known_values():
    # kitten -> sitting: 2 substitutions + 1 insertion; a swap costs 1; OSA cannot edit a swapped pair
    # again, so "ca" -> "abc" costs 3 (true Damerau-Levenshtein would say 2).
    pairs = [("kitten", "sitting", 3), ("ca", "ac", 1), ("ca", "abc", 3), ("", "abc", 3), ("abc", "", 3),
             ("", "", 0), ("matrix", "matrix", 0), ("godfahter", "godfather", 1), ("Ünïcode", "unicode", 2)]
    assert osa([(a, b) for a, b, _ in pairs]) == [d for _, _, d in pairs]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text("abcd é", max_size=12), st.text("abcd é", max_size=12)), min_size=1, max_size=60))
def test_osa_matches_reference(pairs):
    assert osa(pairs) == [reference_osa(a, b) for a, b in pairs]


def test_partial_osa_aligns_to_whole_words():
    pairs = [("life of brian", "monty pythons life of brian", 0), ("star wars", "star wars the clone wars", 0),
             ("war", "star wars", 1),  # "wars" minus its s: parts of words are not free
             ("brian", "", 5), ("", "one word", 3), ("empire strikes", "the empire strikes back", 0)]
    assert osa([(a, b) for a, b, _ in pairs], partial=True) == [d for _, _, d in pairs]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text("ab ", max_size=7), st.text("ab ", max_size=9)), min_size=1, max_size=60))
def test_partial_osa_matches_reference(pairs):
    assert osa(pairs, partial=True) == [reference_partial(a, b) for a, b in pairs]


def test_osa_agrees_with_rapidfuzz_on_long_batches():
    distance = pytest.importorskip("rapidfuzz.distance")
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefgh ") for _ in range(rng.randint(0, 70))) for _ in range(3000)]
    pairs = list(zip(words[::2], words[1::2]))  # many blocks of mixed lengths
    assert osa(pairs) == [distance.OSA.distance(a, b) for a, b in pairs]


# ---- TitleMatcher ----------------------------------------------------------------------------
@pytest.mark.parametrize("query, title", [
    ("THE MATRIX", "Matrix, The (1999)"),  # case, moved article
    ("Matrix, The", "Matrix, The (1999)"),  # catalog spelling without the year
    ("the matrix (1999)", "Matrix, The (1999)"),
    ("Schindlers List!", "Schindler's List (1993)"),  # punctuation
    ("Star Wars Episode IV A New Hope", "Star Wars: Episode IV - A New Hope (1977)"),
    ("Amelie", "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)"),
    ("les miserables (1995)", "Misérables, Les (1995)"),  # accents and a moved French article
    ("Toy Story", "Toy Story (1995)"),  # missing year
    ("Jurasic Prak", "Jurassic Park (1993)"),  # typos: a dropped letter, a swap
    ("Godfahter", "Godfather, The (1972)"),
    ("Se7en", "Seven (a.k.a. Se7en) (1995)"),  # alternate titles
    ("12 Monkeys", "Twelve Monkeys (a.k.a. 12 Monkeys) (1995)"),
    ("La Cité des enfants perdus", "City of Lost Children, The (Cité des enfants perdus, La) (1995)"),
    ("Il Postino", "Postman, The (Postino, Il) (1994)"),
    ("Wings of Desire", "Wings of Desire (Himmel über Berlin, Der) (1987)"),
    ("Hamlet (1990)", "Hamlet (1990)"),  # the year picks among remakes
    ("Hamlet (1996)", "Hamlet (1996)"),
    ("King Kong (1976)", "King Kong (1976)"),
    ("The Postman (1994)", "Postman, The (Postino, Il) (1994)"),
    ("The Postman (1997)", "Postman, The (1997)"),
    ("Dr. Strangelove", "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb (1964)"),  # part
    ("Life of Brian", "Monty Python's Life of Brian (1979)"),
    ("Empire Strikes Back", "Star Wars: Episode V - The Empire Strikes Back (1980)"),
])
def test_hand_cases(matcher, query, title):
    m = matcher.match(query)
    assert m is not None and m.title == title, (query, m)
    assert DEFAULT_THRESHOLD <= m.score <= 1


def test_ids_and_exact_scores(matcher):
    m = matcher.match("Matrix, The (1999)")
    assert m == Match(index=m.index, id=2571, title="Matrix, The (1999)", score=pytest.approx(1.0))
    assert matcher.titles[m.index] == m.title


@pytest.mark.parametrize("query", ["qwzxv plmkj", "xkcd zzzz", "", "   ", "(1995)", "!!!"])
def test_no_match(matcher, query):
    assert matcher.match(query) is None


def test_threshold_and_top(matcher):
    assert matcher.match("Jurasic Prak", threshold=0.99) is None
    assert matcher.match("qwzxv plmkj", threshold=0.0) is not None
    top = matcher.top("star wars", k=5)
    assert len(top) == 5
    assert [m.score for m in top] == sorted((m.score for m in top), reverse=True)
    assert len({m.index for m in top}) == 5  # an item reached by several keys appears once
    assert all("Star Wars" in m.title for m in top[:3])
    assert matcher.top("", k=3) == []
    assert len(matcher.top("star", k=matcher.candidates + 5)) == matcher.candidates + 5


def test_batch_equals_one_by_one(matcher, movies):
    _, titles = movies
    rng = random.Random(0)
    queries = [t.lower()[: max(3, len(t) - rng.randint(0, 8))] for t in rng.sample(titles, 40)]
    queries += ["", "qwzxv", "Se7en", "Hamlet"]
    singles = [matcher.match(q) for q in queries]
    for batch_size in (1, 7, 512):
        batch = matcher.match_many(queries, batch_size=batch_size)
        assert [m and m.index for m in batch] == [m and m.index for m in singles]
        assert [m and m.score for m in batch] == pytest.approx([m and m.score for m in singles], abs=1e-5)


def test_duplicate_titles_resolve_to_the_first():
    matcher = TitleMatcher(["Hamlet (2000)", "Heat (1995)", "Hamlet (2000)"], ids=["a", "b", "c"])
    assert matcher.match("hamlet").id == "a"
    assert [m.id for m in matcher.top("hamlet 2000", k=3)][:2] == ["a", "c"]


def test_small_catalog_without_ids():
    matcher = TitleMatcher(["Heat", "Alien", "Aliens"])
    assert matcher.match("alien").index == 1
    assert matcher.match("aliens").index == 2
    assert matcher.match("heat").id == 0


def test_errors():
    with pytest.raises(ValueError, match="empty list"):
        TitleMatcher([])
    with pytest.raises(ValueError, match="2 ids for 1 titles"):
        TitleMatcher(["Heat"], ids=[1, 2])
    with pytest.raises(ValueError, match="no title has a letter or digit"):
        TitleMatcher(["!!!", "(1995)"])
    with pytest.raises(TypeError, match="title 1 is not a string"):
        TitleMatcher(["Heat", None])
    matcher = TitleMatcher(["Heat"])
    with pytest.raises(TypeError, match="query 0 is not a string: 42"):
        matcher.match_many([42])
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        matcher.match_many(["heat"], batch_size=0)
    with pytest.raises(ValueError, match="k must be >= 1"):
        matcher.top("heat", k=0)


def test_corrupted_titles_mostly_found(matcher, movies):
    """A small version of bench/fuzzy.py's claim: a swap of two letters, with or without the year."""
    ids, titles = movies
    rng = random.Random(1)
    queries, truth = [], []
    for i in rng.sample(range(len(titles)), 200):
        text, _, year = titles[i].rpartition(" (")
        j = rng.randrange(len(text) - 1)
        text = text[:j] + text[j + 1] + text[j] + text[j + 2:]
        queries.append(text if rng.random() < 0.5 else f"{text} ({year}")
        truth.append(titles[i])
    found = [m is not None and m.title == t for m, t in zip(matcher.match_many(queries), truth)]
    assert sum(found) / len(found) >= 0.95


def test_year_slips_are_forgiven_other_years_are_not(matcher):
    # Two digits swapped or one year off: still the film. Another year: a remake we lack, no match.
    assert matcher.match("Principal, The (9187)").title == "Principal, The (1987)"
    assert matcher.match("Principal, The (1988)").title == "Principal, The (1987)"
    assert matcher.match("Principal, The (1955)") is None
    assert matcher.match("Principal, The (1955)", threshold=0.4).title == "Principal, The (1987)"
