"""Model-written SQL snapped to the catalog's real column names and values."""
import pytest

from recai.agent.sql_snap import SqlSnapper
from recai.data import Catalog
from recai.text.fuzzy import TitleMatcher

ITEMS = [
    {"id": "1", "title": "Toy Story (1995)", "year": 1995, "genres": ["Animation", "Comedy"], "tags": ["pixar"]},
    {"id": "2", "title": "Heat (1995)", "year": 1995, "genres": ["Action", "Crime"], "tags": []},
    {"id": "3", "title": "Matrix, The (1999)", "year": 1999, "genres": ["Action", "Sci-Fi"], "tags": ["cyberpunk"]},
]


@pytest.fixture(scope="module")
def snapper():
    cat = Catalog.build(ITEMS)
    return cat, SqlSnapper(cat, TitleMatcher(cat.titles))


def rows(cat, sql):
    return sorted(r[0] for r in cat.query(sql).rows)


def test_unknown_columns_snap_to_real_ones(snapper):
    cat, s = snapper
    sql, changes = s.snap("SELECT title FROM items WHERE release_year = 1999")
    assert sql == "SELECT title FROM items WHERE year = 1999" and changes == ["column 'release_year' -> 'year'"]
    assert s.snap("SELECT titel FROM items")[0] == "SELECT title FROM items"


def test_category_values_snap_and_list_equality_becomes_membership(snapper):
    cat, s = snapper
    sql, changes = s.snap("SELECT title FROM items WHERE genre = 'action'")
    assert sql == "SELECT title FROM items WHERE genres LIKE '%\"Action\"%'"
    assert rows(cat, sql) == ["Heat (1995)", "Matrix, The (1999)"]
    sql, _ = s.snap("SELECT title FROM items WHERE genres LIKE '%\"scifi\"%'")
    assert rows(cat, sql) == ["Matrix, The (1999)"]
    sql, _ = s.snap("SELECT title FROM items WHERE genres != 'Action'")
    assert rows(cat, sql) == ["Toy Story (1995)"]
    sql, _ = s.snap("SELECT title FROM items WHERE idx IN (SELECT idx FROM genres WHERE value = 'Animaton')")
    assert rows(cat, sql) == ["Toy Story (1995)"]


def test_titles_snap_to_the_catalog_spelling(snapper):
    cat, s = snapper
    sql, changes = s.snap("SELECT year FROM items WHERE title = 'the matrix'")
    assert "'Matrix, The (1999)'" in sql and cat.query(sql).rows == [(1999,)]


def test_far_names_and_values_are_left_for_sqlite_to_refuse(snapper):
    cat, s = snapper
    assert s.snap("SELECT director FROM items") == ("SELECT director FROM items", [])
    assert s.snap("SELECT title FROM items WHERE genres LIKE '%Opera%'")[1] == []
    # String literals and functions are not mistaken for columns.
    assert s.snap("SELECT lower(title) FROM items WHERE title LIKE 'T%'")[1] == []
