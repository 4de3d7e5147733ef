"""The item catalog: ids, titles and typed attributes in SQLite, with a read-only path for model SQL.

Layout (what `Catalog.describe()` shows a language model):
  items(idx INTEGER PRIMARY KEY, id TEXT UNIQUE, title TEXT, <one column per attribute>)
  <list attribute>(idx INTEGER, value TEXT)   one row per element, e.g. genres(idx, value)
`idx` is the 0-based position every recommender and index in recai uses; `id` is the dataset's own
item id. List attributes live in the items row as a JSON array too, so one row reads back whole.
"""
from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from recai.data.atomic import atomic_path
from recai.data.readonly import QueryResult, run_readonly
from recai.errors import DataError

ATTR_TYPES = {"text": "TEXT", "int": "INTEGER", "float": "REAL", "list": "TEXT"}
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_RESERVED = {"items", "idx", "id", "title", "meta", "value", "sqlite_master"}


class Catalog:
    """Items with id, title and typed attributes, stored in SQLite.

    Build one with `Catalog.build(items, schema)` or open a saved file with `Catalog.open(path)`.
    Model-written SQL goes through `query()`, which runs one SELECT on a read-only connection.
    """

    def __init__(self, conn: sqlite3.Connection, uri: str, path: Path | None, schema: dict[str, str]):
        self._conn, self._uri, self.path, self.schema = conn, uri, path, schema
        rows = conn.execute("SELECT id, title FROM items ORDER BY idx").fetchall()
        self.ids: list[str] = [r[0] for r in rows]
        self.titles: list[str] = [r[1] for r in rows]
        self._index = {item_id: i for i, item_id in enumerate(self.ids)}
        self._reader: sqlite3.Connection | None = None

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def build(cls, items: Iterable[Mapping], schema: Mapping[str, str] | None = None,
              path: str | Path | None = None, source: str = "items") -> "Catalog":
        """A catalog from dicts with "id", "title" and attributes.

        schema: attribute name -> "text" | "int" | "float" | "list"; inferred from the values when
        omitted. path: an SQLite file to create (atomically replaced), or None for memory.
        source names the input in errors. Raises DataError on duplicate ids, missing titles,
        values that do not fit their type, or bad attribute names.
        """
        items = list(items)
        schema = dict(schema) if schema is not None else infer_schema(items)
        _check_schema(schema, source)
        if path is None:
            uri = f"file:recai-catalog-{uuid.uuid4().hex}?mode=memory&cache=shared"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            _write(conn, items, schema, source)
            return cls(conn, uri, None, schema)
        with atomic_path(path) as tmp:
            conn = sqlite3.connect(tmp)
            try:
                _write(conn, items, schema, source)
            finally:
                conn.close()
        return cls.open(path)

    @classmethod
    def open(cls, path: str | Path) -> "Catalog":
        """A saved catalog, opened read-only (the file is never modified by reading or querying)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such catalog file")
        uri = f"file:{path.resolve()}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            (schema_json,) = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except (sqlite3.DatabaseError, TypeError) as e:
            raise DataError(f"{path}: not a recai catalog ({e})") from None
        return cls(conn, uri, path, json.loads(schema_json))

    def save(self, path: str | Path) -> Path:
        """Write the catalog to an SQLite file atomically (temp file, then rename). Returns the path."""
        with atomic_path(path) as tmp:
            dest = sqlite3.connect(tmp)
            try:
                self._conn.backup(dest)
            finally:
                dest.close()
        return Path(path)

    def subset(self, indices: Sequence[int]) -> "Catalog":
        """A new in-memory catalog of the items at `indices`, renumbered 0..len-1 in that order."""
        return Catalog.build((self.item(int(i)) for i in indices), self.schema, source="subset")

    # ---- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        where = self.path or "memory"
        return f"Catalog({len(self)} items, attributes {list(self.schema)}, {where})"

    def index(self, item_id) -> int:
        """The 0-based index of an item id. Raises KeyError naming the id."""
        try:
            return self._index[str(item_id)]
        except KeyError:
            raise KeyError(f"item id {item_id!r} is not in the catalog") from None

    def get_index(self, item_id, default=None):
        return self._index.get(str(item_id), default)

    def item(self, key: int | str) -> dict:
        """One item as a dict (id, title, attributes; lists decoded). An int is an index, a str an id."""
        idx = key if isinstance(key, int) else self.index(key)
        if not 0 <= idx < len(self):
            raise IndexError(f"item index {idx} out of range for a catalog of {len(self)} items")
        cols = ", ".join(_quote(a) for a in self.schema)
        sql = f"SELECT id, title{', ' + cols if cols else ''} FROM items WHERE idx = ?"
        row = self._conn.execute(sql, (idx,)).fetchone()
        out = {"id": row[0], "title": row[1]}
        for (name, kind), value in zip(self.schema.items(), row[2:]):
            out[name] = json.loads(value) if kind == "list" and value is not None else value
        return out

    def display_titles(self) -> list[str]:
        """Every title with its year as people write it ("Toy Story (1995)"), in index order; a
        title that already ends in its year, or an item without one, is left as it is."""
        years = self.values("year") if "year" in self.schema else [None] * len(self)
        return [f"{t} ({y})" if y and f"({y})" not in t else t for t, y in zip(self.titles, years)]

    def values(self, attr: str) -> list:
        """One attribute for every item, in index order (lists decoded, missing values None)."""
        if attr == "title":
            return list(self.titles)
        if attr not in self.schema:
            raise KeyError(f"unknown attribute {attr!r}; the catalog has {['title', *self.schema]}")
        rows = self._conn.execute(f"SELECT {_quote(attr)} FROM items ORDER BY idx").fetchall()
        if self.schema[attr] == "list":
            return [json.loads(v) if v is not None else None for (v,) in rows]
        return [v for (v,) in rows]

    def describe(self) -> str:
        """The SQL schema in a few lines, for prompts and `recai data info`."""
        cols = ", ".join(f"{a} {ATTR_TYPES[k]}{' (JSON list)' if k == 'list' else ''}"
                         for a, k in self.schema.items())
        lines = [f"items(idx INTEGER, id TEXT, title TEXT{', ' + cols if cols else ''})  -- {len(self)} rows"]
        lines += [f"{a}(idx INTEGER, value TEXT)  -- one row per element of items.{a}"
                  for a, k in self.schema.items() if k == "list"]
        return "\n".join(lines)

    # ---- the read-only path for model-written SQL ----------------------------------------------
    def query(self, sql: str, params: Sequence = (), max_rows: int = 100,
              timeout_s: float = 2.0) -> QueryResult:
        """Run one model-written SELECT read-only. See `recai.data.readonly.run_readonly`."""
        if self._reader is None:
            self._reader = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            # Belt and braces: the authorizer already refuses writes, this makes SQLite refuse too.
            self._reader.execute("PRAGMA query_only = ON")
        return run_readonly(self._reader, sql, params, max_rows=max_rows, timeout_s=timeout_s)

    def close(self) -> None:
        for conn in (self._reader, self._conn):
            if conn is not None:
                conn.close()
        self._reader = None


def infer_schema(items: Sequence[Mapping]) -> dict[str, str]:
    """Attribute types from the values: lists → list, bool/int → int, float → float, else text."""
    schema: dict[str, str] = {}
    for item in items:
        for key, value in item.items():
            if key in ("id", "title") or value is None:
                continue
            kind = ("list" if isinstance(value, (list, tuple)) else
                    "int" if isinstance(value, (bool, int)) else
                    "float" if isinstance(value, float) else "text")
            old = schema.get(key)
            if old is None or old == kind:
                schema[key] = kind
            elif {old, kind} == {"int", "float"}:
                schema[key] = "float"
            else:
                schema[key] = "text"  # mixed kinds: keep the values as text rather than fail
    return schema


def _check_schema(schema: Mapping[str, str], source: str) -> None:
    for name, kind in schema.items():
        if not _NAME.fullmatch(name) or name in _RESERVED:
            raise DataError(f"{source}: attribute name {name!r} is not usable as an SQL column "
                            f"(use lower-case letters, digits and _, not one of {sorted(_RESERVED)})")
        if kind not in ATTR_TYPES:
            raise DataError(f"{source}: attribute {name!r} has unknown type {kind!r}; "
                            f"use one of {list(ATTR_TYPES)}")


def _quote(name: str) -> str:
    return '"' + name + '"'


def _write(conn: sqlite3.Connection, items: Sequence[Mapping], schema: Mapping[str, str], source: str) -> None:
    cols = "".join(f", {_quote(a)} {ATTR_TYPES[k]}" for a, k in schema.items())
    conn.execute(f"CREATE TABLE items(idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL{cols})")
    conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('schema', ?)", (json.dumps(dict(schema)),))
    lists = [a for a, k in schema.items() if k == "list"]
    for a in lists:
        conn.execute(f"CREATE TABLE {_quote(a)}(idx INTEGER NOT NULL, value TEXT NOT NULL)")
    rows, seen = [], {}
    list_rows: dict[str, list] = {a: [] for a in lists}
    for idx, item in enumerate(items):
        item_id, title = item.get("id"), item.get("title")
        if item_id is None or str(item_id) == "":
            raise DataError(f"{source}: item #{idx} has no id")
        item_id = str(item_id)
        if item_id in seen:
            raise DataError(f"{source}: duplicate item id {item_id!r} (items #{seen[item_id]} and #{idx})")
        seen[item_id] = idx
        if title is None:
            raise DataError(f"{source}: item {item_id!r} has no title")
        row = [idx, item_id, str(title)]
        for a, k in schema.items():
            v = _coerce(item.get(a), k, a, item_id, source)
            if k == "list" and v is not None:
                list_rows[a].extend((idx, str(x)) for x in v)
                v = json.dumps([str(x) for x in v], ensure_ascii=False)
            row.append(v)
        rows.append(row)
    marks = ", ".join("?" * (3 + len(schema)))
    conn.executemany(f"INSERT INTO items VALUES ({marks})", rows)
    for a in lists:
        conn.executemany(f"INSERT INTO {_quote(a)} VALUES (?, ?)", list_rows[a])
        conn.execute(f"CREATE INDEX {_quote(a + '_by_value')} ON {_quote(a)}(value)")
    conn.commit()


def _coerce(value, kind: str, attr: str, item_id: str, source: str):
    """A value converted to its column type, or DataError naming the item and attribute."""
    if value is None or value == "":
        return None
    try:
        if kind == "list":
            if isinstance(value, str):
                return [value]
            return list(value)
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind == "float":
            return float(value)
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        raise DataError(f"{source}: item {item_id!r} attribute {attr!r} = {value!r} is not a valid {kind}") from None
