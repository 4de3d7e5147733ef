"""RecBole's atomic files: `<name>.inter` (+ `<name>.item`), tab-separated, headers `field:type`.

Types: token and float are scalars; token_seq and float_seq are space-separated lists. The item
file's title comes from the first of `title`, `movie_title`, `item_name`, `name` (token_seq words
joined back); without an item file, titles are the item ids. Known fields keep their meaning:
`release_year`/`year` become an int year, `class`/`genre`/`categories` a genres list.
"""
from __future__ import annotations

from pathlib import Path

from recai.data.dataset import Dataset
from recai.data.loaders.common import BadRows, Event, assemble, parse_number, read_rows, unique_items
from recai.errors import DataError

TITLE_FIELDS = ("title", "movie_title", "item_name", "name")
RENAMED = {"release_year": "year", "class": "genres", "genre": "genres", "categories": "genres"}


def load_atomic(inter_path: Path, bad: BadRows) -> Dataset:
    """Read `<name>.inter` and, when present beside it, `<name>.item`."""
    name = inter_path.stem
    header = read_header(inter_path)
    for need in ("user_id", "item_id"):
        if need not in header:
            raise DataError(f"{inter_path}: header has no {need} field (fields: {list(header)})")
    cols = list(header)
    events = []
    for lineno, f in read_rows(inter_path, "\t", len(cols), bad, header=True):
        row = dict(zip(cols, f))
        ts = parse_number(row["timestamp"], float, inter_path, lineno, "timestamp", bad) if "timestamp" in row else 0
        w = parse_number(row["rating"], float, inter_path, lineno, "rating", bad) if "rating" in row else 1.0
        if ts is not None and w is not None:
            events.append(Event(row["user_id"], row["item_id"], int(ts), w, lineno))
    item_path = inter_path.with_suffix(".item")
    items = _items(item_path, bad) if item_path.is_file() else \
        [{"id": i, "title": i} for i in dict.fromkeys(e.item for e in events)]
    return assemble(name, str(inter_path.parent), items, events, inter_path, bad,
                    timed="timestamp" in header)


def read_header(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, encoding="utf-8") as f:
        first = f.readline().rstrip("\r\n")
    out = {}
    for field in first.split("\t"):
        name, _, kind = field.partition(":")
        if kind not in ("token", "token_seq", "float", "float_seq"):
            raise DataError(f"{path}:1: header field {field!r} is not name:type with type token, "
                            "token_seq, float or float_seq")
        out[name] = kind
    return out


def _items(path: Path, bad: BadRows) -> list[dict]:
    header = read_header(path)
    if "item_id" not in header:
        raise DataError(f"{path}: header has no item_id field (fields: {list(header)})")
    title_field = next((t for t in TITLE_FIELDS if t in header), None)
    rows = []
    for lineno, f in read_rows(path, "\t", len(header), bad, header=True):
        raw = dict(zip(header, f))
        item = {"id": raw["item_id"], "title": raw[title_field] if title_field else raw["item_id"]}
        for field, kind in header.items():
            if field in ("item_id", title_field):
                continue
            item[RENAMED.get(field, field)] = _value(raw[field], kind, RENAMED.get(field, field))
        rows.append((lineno, item))
    return unique_items(rows, path, bad)


def _value(text: str, kind: str, name: str):
    if kind == "token_seq" or name == "genres":
        return text.split()
    if kind == "float_seq":
        return [float(x) for x in text.split()]
    if name == "year":
        return int(text) if text.isdigit() else None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            return None
    return text
