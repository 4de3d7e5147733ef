"""Running SQL written by a language model: one SELECT, read-only, a row cap and a time limit.

Three independent locks, so one mistake does not open the door: the text must be a single
SELECT/WITH statement; an SQLite authorizer allows only reads (no INSERT/UPDATE/DELETE/DDL,
ATTACH, PRAGMA or transactions); and the connection itself is read-only (`mode=ro` for files,
`PRAGMA query_only` for memory). A progress handler aborts queries that run past the time limit.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from recai.errors import QueryError

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
# Functions that touch the outside world or the engine's state (load_extension is also disabled
# at the connection level by default; refusing it here keeps that true if someone enables it).
_REFUSED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
_PROGRESS_EVERY = 1000  # SQLite VM instructions between two time checks


@dataclass
class QueryResult:
    """columns: names; rows: tuples (at most max_rows); truncated: more rows existed."""
    columns: list[str]
    rows: list[tuple]
    truncated: bool

    def as_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def _authorize(action, arg1, arg2, db_name, trigger):
    if action not in _ALLOWED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _REFUSED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def single_select(sql: str) -> str:
    """The statement without its trailing semicolon, or QueryError if it is not one SELECT."""
    if not isinstance(sql, str) or not sql.strip():
        raise QueryError("empty query: write one SELECT statement")
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    # A complete statement before the end means a second statement follows.
    for i, ch in enumerate(text):
        if ch == ";" and sqlite3.complete_statement(text[: i + 1]):
            raise QueryError(f"only one statement is allowed; found more after: {text[:i + 1]!r}")
    first = text.split(None, 1)[0].upper() if text.split() else ""
    if first not in ("SELECT", "WITH"):
        raise QueryError(f"only SELECT queries are allowed, not {first or text!r}: {_short(text)}")
    return text


def run_readonly(conn: sqlite3.Connection, sql: str, params: Sequence = (), max_rows: int = 100,
                 timeout_s: float = 2.0) -> QueryResult:
    """Run one SELECT on `conn` under the authorizer, the row cap and the time limit.

    Raises QueryError when the text is not a single SELECT, touches anything but reads, fails to
    parse, or runs past `timeout_s`. Rows beyond `max_rows` are dropped and `truncated` is set.
    """
    if max_rows < 1:
        raise QueryError(f"max_rows must be at least 1, got {max_rows}")
    text = single_select(sql)
    deadline = time.monotonic() + timeout_s
    conn.set_authorizer(_authorize)
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_EVERY)
    try:
        cur = conn.execute(text, tuple(params))
        rows = cur.fetchmany(max_rows + 1)
        columns = [d[0] for d in cur.description or ()]
        cur.close()
    except sqlite3.OperationalError as e:
        if "interrupted" in str(e):
            raise QueryError(f"query exceeded the {timeout_s:g} s time limit: {_short(text)}") from None
        if "not authorized" in str(e) or "prohibited" in str(e) or "readonly" in str(e):
            raise QueryError(f"query refused: only reads are allowed ({e}): {_short(text)}") from None
        raise QueryError(f"query failed: {e}: {_short(text)}") from None
    except (sqlite3.DatabaseError, sqlite3.ProgrammingError, sqlite3.Warning) as e:
        raise QueryError(f"query failed: {e}: {_short(text)}") from None
    finally:
        conn.set_authorizer(None)
        conn.set_progress_handler(None, _PROGRESS_EVERY)
    return QueryResult(columns, [tuple(r) for r in rows[:max_rows]], len(rows) > max_rows)


def _short(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[:n] + "..."
