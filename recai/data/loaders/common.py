"""Pieces every loader shares: bad-row policy, delimited-file reading, and assembling a Dataset."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from recai.data.catalog import Catalog
from recai.data.dataset import Dataset
from recai.data.interactions import Interactions
from recai.errors import DataError


@dataclass
class BadRows:
    """What to do with a malformed row: raise (default) or count it under `skip`."""
    skip: bool = False
    counts: Counter = field(default_factory=Counter)

    def __call__(self, path: Path | str, lineno: int, reason: str, detail: str = "") -> None:
        if not self.skip:
            where = f"{path}:{lineno}" if lineno else str(path)
            raise DataError(f"{where}: {reason}{': ' + detail if detail else ''} "
                            "(pass skip_bad=True, or --skip-bad on the command line, to skip such rows)")
        self.counts[f"{Path(path).name}: {reason}"] += 1


@dataclass
class Event:
    user: str
    item: str  # the dataset's item id, resolved against the catalog in `assemble`
    time: int | None
    weight: float
    lineno: int


def read_rows(path: Path, sep: str | None, n_fields: int, bad: BadRows, encoding: str = "utf-8",
              header: bool = False, max_fields: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) for each non-empty line with n_fields..max_fields fields.

    sep None splits on whitespace. Short or long rows go to `bad`. Raises DataError for a file
    that is missing or not decodable with `encoding`.
    """
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    max_fields = max_fields or n_fields
    with open(path, encoding=encoding, newline="") as f:
        lineno = 0
        try:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if not line.strip() or (header and lineno == 1):
                    continue
                fields = line.split(sep) if sep is not None else line.split()
                if not n_fields <= len(fields) <= max_fields:
                    bad(path, lineno, f"expected {n_fields} fields", f"got {len(fields)} in {line[:80]!r}")
                    continue
                yield lineno, fields
        except UnicodeDecodeError as e:
            raise DataError(f"{path}:{lineno + 1}: not valid {encoding} text ({e.reason})") from None


def parse_number(text: str, kind, path: Path, lineno: int, name: str, bad: BadRows):
    """`kind(text)` or None after reporting to `bad`."""
    try:
        return kind(text)
    except ValueError:
        bad(path, lineno, f"{name} is not a number", repr(text))
        return None


def assemble(name: str, source: str, items: Sequence[dict], events: Sequence[Event], events_path: Path | str,
             bad: BadRows, schema: dict[str, str] | None = None, timed: bool = True) -> Dataset:
    """Catalog + Interactions from parsed rows. Events naming unknown items go to `bad`.

    timed False keeps file order within each user (datasets without timestamps).
    Raises DataError when nothing is left: no items or no interactions.
    """
    if not items:
        raise DataError(f"{source}: no items found")
    catalog = Catalog.build(items, schema, source=source)
    users, idx, times, weights = [], [], [], []
    for e in events:
        i = catalog.get_index(e.item)
        if i is None:
            bad(events_path, e.lineno, "unknown item id", repr(e.item))
            continue
        users.append(e.user)
        idx.append(i)
        times.append(e.time if timed else 0)
        weights.append(e.weight)
    if not idx:
        raise DataError(f"{events_path}: no interactions found")
    data = Interactions.from_events(users, idx, len(catalog), times, weights)
    return Dataset(name, catalog, data, source, skipped=dict(bad.counts), has_timestamps=timed)


def read_csv(path: Path, required: Sequence[str], bad: BadRows, encoding: str = "utf-8",
             delimiter: str = ",") -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row dict) for each data row of a headed CSV file.

    Raises DataError naming the file when it is missing or a required column is absent from the
    header; rows with the wrong number of fields go to `bad`.
    """
    import csv

    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, encoding=encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: empty file (expected a header with {list(required)})") from None
        header = [h.strip().lstrip("\ufeff") for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}; the header has {header}")
        try:
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != len(header):
                    bad(path, reader.line_num, f"expected {len(header)} fields", f"got {len(row)}")
                    continue
                yield reader.line_num, dict(zip(header, row))
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{path}:{reader.line_num + 1}: not valid {encoding} text ({e.reason})") from None


def unique_items(rows: Sequence[tuple[int, dict]], path: Path | str, bad: BadRows) -> list[dict]:
    """Item dicts from (line number, item) pairs; a repeated id goes to `bad` (the first one is kept)."""
    first: dict[str, int] = {}
    items = []
    for lineno, item in rows:
        key = str(item["id"])
        if key in first:
            bad(path, lineno, "duplicate item id", f"{key!r} (first at line {first[key]})")
            continue
        first[key] = lineno
        items.append(item)
    return items


def column_name(key: str) -> str:
    """A free-form field name as a usable catalog attribute: lower case, runs of other chars → '_'."""
    import re

    name = re.sub(r"[^a-z0-9_]+", "_", str(key).strip().lower()).strip("_") or "field"
    if name[0].isdigit() or name in ("items", "idx", "meta", "value"):
        name = "f_" + name
    return name
