"""Generic interactions from CSV/TSV or JSON lines, with a column mapping, and an optional item file.

    load("events.csv", columns={"user": "uid", "item": "sku", "time": "ts", "rating": "stars"},
         items="items.jsonl", item_columns={"id": "sku", "title": "name"}, list_columns={"tags": "|"})

Required roles: user, item. Optional: time (numbers, or ISO-8601 dates), rating (a number; 1.0
when absent). Item file roles: id (default "id"), title (default "title", else the id); every
other column becomes an attribute, typed from its values. Without an item file the catalog is the
set of item ids seen, titled by id.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path

from recai.data.dataset import Dataset
from recai.data.loaders.common import BadRows, Event, assemble, column_name, read_csv, unique_items
from recai.errors import DataError

ROLES = ("user", "item", "time", "rating")


def load_table(path: Path, bad: BadRows, columns: Mapping[str, str] | None = None, items: str | Path | None = None,
               item_columns: Mapping[str, str] | None = None, list_columns: Mapping[str, str] | None = None,
               name: str | None = None) -> Dataset:
    columns = dict(columns or {"user": "user", "item": "item"})
    unknown = set(columns) - set(ROLES)
    if unknown or not {"user", "item"} <= set(columns):
        raise DataError(f"{path}: columns must map the roles user and item (optional time, rating) to "
                        f"column names; got {columns}")
    events = []
    for lineno, row in _records(path, [columns[r] for r in columns], bad):
        event = _event(row, columns, path, lineno, bad)
        if event is not None:
            events.append(event)
    if items is not None:
        item_rows = _item_rows(Path(items), dict(item_columns or {}), dict(list_columns or {}), bad)
    else:
        item_rows = [{"id": i, "title": i} for i in dict.fromkeys(e.item for e in events)]
    return assemble(name or path.stem, str(path), item_rows, events, path, bad, timed="time" in columns)


def _records(path: Path, required: list[str], bad: BadRows) -> Iterator[tuple[int, dict]]:
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        yield from _jsonl(path, required, bad)
    else:
        yield from read_csv(path, required, bad, delimiter="\t" if path.suffix in (".tsv", ".tab") else ",")


def _jsonl(path: Path, required: list[str], bad: BadRows) -> Iterator[tuple[int, dict]]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                bad(path, lineno, "invalid JSON", e.msg)
                continue
            missing = [c for c in required if not isinstance(row, dict) or c not in row]
            if missing:
                bad(path, lineno, "missing field(s)", str(missing))
                continue
            yield lineno, row


def _event(row: dict, columns: dict, path: Path, lineno: int, bad: BadRows) -> Event | None:
    user, item = row[columns["user"]], row[columns["item"]]
    if user in (None, "") or item in (None, ""):
        bad(path, lineno, "empty user or item")
        return None
    time = None
    if "time" in columns:
        time = _time(row[columns["time"]])
        if time is None:
            bad(path, lineno, "time is not a number or ISO-8601 date", repr(row[columns["time"]]))
            return None
    weight = 1.0
    if "rating" in columns:
        try:
            weight = float(row[columns["rating"]])
        except (TypeError, ValueError):
            bad(path, lineno, "rating is not a number", repr(row[columns["rating"]]))
            return None
    return Event(str(user), str(item), time, weight, lineno)


def _time(value) -> int | None:
    """Seconds (or whatever unit the numbers use) as int; ISO dates become Unix seconds (UTC if naive)."""
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp())


def _item_rows(path: Path, roles: dict, lists: dict, bad: BadRows) -> list[dict]:
    id_col, title_col = roles.get("id", "id"), roles.get("title", "title")
    out = []
    for lineno, row in _records(path, [id_col], bad):
        item = {"id": str(row[id_col]), "title": row.get(title_col) or str(row[id_col])}
        for key, value in row.items():
            if key in (id_col, title_col):
                continue
            if key in lists and isinstance(value, str):
                value = [v.strip() for v in value.split(lists[key]) if v.strip()]
            elif isinstance(value, str) and path.suffix not in (".jsonl", ".json", ".ndjson"):
                value = _number_or_text(value)
            item[column_name(key)] = value
        out.append((lineno, item))
    return unique_items(out, path, bad)


def _number_or_text(text: str):
    # CSV cells are all text; numbers are typed so catalog SQL can compare them.
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
