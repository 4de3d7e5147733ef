"""Catalog: typed SQLite storage, and the read-only path that model-written SQL goes through."""
import hashlib

import pytest

from recai.data import Catalog
from recai.errors import DataError, QueryError

ITEMS = [
    {"id": "m1", "title": "Toy Story (1995)", "year": 1995, "genres": ["Animation", "Comedy"], "price": 9.5},
    {"id": "m2", "title": "Heat (1995)", "year": 1995, "genres": ["Action", "Crime"], "price": 7.0},
    {"id": "m3", "title": "Up (2009)", "year": 2009, "genres": ["Animation"], "price": None},
]


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "catalog.db"
    Catalog.build(ITEMS, path=path)
    return path


def test_build_infers_types_and_reads_back():
    cat = Catalog.build(ITEMS)
    assert cat.schema == {"year": "int", "genres": "list", "price": "float"}
    assert len(cat) == 3 and cat.ids == ["m1", "m2", "m3"] and cat.titles[2] == "Up (2009)"
    assert cat.index("m2") == 1 and cat.get_index("nope") is None
    assert cat.item("m1") == ITEMS[0]
    assert cat.item(2)["price"] is None
    assert cat.values("genres")[1] == ["Action", "Crime"]
    with pytest.raises(KeyError, match="'zz'"):
        cat.index("zz")


def test_list_attributes_are_joinable_tables():
    cat = Catalog.build(ITEMS)
    rows = cat.query("SELECT i.id FROM items i JOIN genres g USING (idx) WHERE g.value = ? ORDER BY idx",
                     ("Animation",)).rows
    assert rows == [("m1",), ("m3",)]
    assert "genres(idx INTEGER, value TEXT)" in cat.describe()


def test_duplicate_ids_missing_titles_bad_values_and_names():
    with pytest.raises(DataError, match="duplicate item id 'm1'"):
        Catalog.build([ITEMS[0], ITEMS[0]])
    with pytest.raises(DataError, match="has no title"):
        Catalog.build([{"id": "x"}])
    with pytest.raises(DataError, match="'year' = 'soon' is not a valid int"):
        Catalog.build([{"id": "x", "title": "t", "year": "soon"}], schema={"year": "int"})
    with pytest.raises(DataError, match="not usable as an SQL column"):
        Catalog.build([{"id": "x", "title": "t", "Bad Name": 1}])
    with pytest.raises(DataError, match="unknown type 'date'"):
        Catalog.build([{"id": "x", "title": "t"}], schema={"when": "date"})


def test_save_open_round_trip(tmp_path):
    cat = Catalog.build(ITEMS)
    path = cat.save(tmp_path / "c.db")
    again = Catalog.open(path)
    assert again.schema == cat.schema and [again.item(i) for i in range(3)] == ITEMS
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind
    with pytest.raises(DataError, match="not a recai catalog"):
        (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
        Catalog.open(tmp_path / "junk.db")


def test_subset_renumbers():
    sub = Catalog.build(ITEMS).subset([2, 0])
    assert sub.ids == ["m3", "m1"] and sub.item(0)["genres"] == ["Animation"]


@pytest.mark.parametrize("sql", [
    "INSERT INTO items(idx, id, title) VALUES (9, 'x', 'x')",
    "UPDATE items SET title = 'hacked'",
    "DELETE FROM items",
    "DROP TABLE items",
    "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "PRAGMA writable_schema = ON",
    "PRAGMA table_info(items)",
    "SELECT 1; DELETE FROM items",
    "SELECT title FROM items; SELECT 1",
    "CREATE TABLE t(x)",
    "BEGIN",
    "VACUUM",
    "REPLACE INTO items(idx, id, title) VALUES (0, 'm1', 'x')",
    "WITH x AS (SELECT 1) DELETE FROM items",
    "SELECT load_extension('/tmp/evil.so')",
    "",
])
def test_model_sql_refused_and_file_untouched(saved, sql):
    before = sha(saved)
    cat = Catalog.open(saved)
    with pytest.raises(QueryError):
        cat.query(sql)
    # The refusal must leave both the data and the file as they were.
    assert cat.query("SELECT count(*) FROM items").rows == [(3,)]
    cat.close()
    assert sha(saved) == before


def test_in_memory_catalog_refuses_writes_too():
    cat = Catalog.build(ITEMS)
    for sql in ("DELETE FROM items", "SELECT 1; DROP TABLE items", "PRAGMA query_only = OFF"):
        with pytest.raises(QueryError):
            cat.query(sql)
    assert len(cat.query("SELECT * FROM items").rows) == 3


def test_row_cap_and_time_limit():
    cat = Catalog.build([{"id": str(i), "title": f"t{i}"} for i in range(50)])
    res = cat.query("SELECT id FROM items ORDER BY idx", max_rows=10)
    assert len(res.rows) == 10 and res.truncated and res.columns == ["id"]
    assert not cat.query("SELECT id FROM items", max_rows=50).truncated
    endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    with pytest.raises(QueryError, match="time limit"):
        cat.query(endless, timeout_s=0.2)
    assert cat.query("SELECT count(*) FROM items").rows == [(50,)]  # still usable afterwards


def test_query_errors_are_query_errors():
    cat = Catalog.build(ITEMS)
    with pytest.raises(QueryError, match="no such column"):
        cat.query("SELECT nope FROM items")
    assert cat.query("SELECT title FROM items WHERE id = 'm2';").as_dicts() == [{"title": "Heat (1995)"}]


def test_display_titles_add_a_missing_year_only():
    cat = Catalog.build([{"id": "a", "title": "Heat", "year": 1995}, {"id": "b", "title": "Up (2009)", "year": 2009},
                         {"id": "c", "title": "Untitled", "year": None}])
    assert cat.display_titles() == ["Heat (1995)", "Up (2009)", "Untitled"]
    assert Catalog.build([{"id": "a", "title": "Heat"}]).display_titles() == ["Heat"]
