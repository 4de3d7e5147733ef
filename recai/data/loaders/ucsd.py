"""The UCSD (McAuley lab) review dumps: Amazon review categories and the SASRec paper's Steam data.

Amazon: `<Category>_5.json.gz` (2018) or `reviews_<Category>_5.json.gz` (2014) with reviewerID,
asin, overall, unixReviewTime; and `meta_<Category>.json.gz` with asin, title, brand, price,
categories and description. Steam: `steam_reviews.json.gz` (username, product_id, date) and
`steam_games.json.gz` (id, title/app_name, genres, tags, price, developer, ...).
Some of these files are JSON lines, others Python literals (single quotes); both are read. Reviews of
items whose metadata has no title are dropped and counted in `Dataset.skipped`: a catalog for
language models needs names, and RecAI's own preprocessing drops them the same way.
"""
from __future__ import annotations

import ast
import gzip
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from recai.data.dataset import Dataset
from recai.data.loaders.common import BadRows, Event, assemble, unique_items
from recai.errors import DataError

_PRICE = re.compile(r"\$?\s*([0-9]+(?:\.[0-9]+)?)")


def records(path: Path, bad: BadRows) -> Iterator[tuple[int, dict]]:
    """(line, dict) from a gzipped (or plain) file of JSON or Python-literal lines."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        try:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    try:
                        rec = ast.literal_eval(line)
                    except (ValueError, SyntaxError, MemoryError, RecursionError):
                        bad(path, lineno, "not a JSON or Python-literal record", line[:60])
                        continue
                if isinstance(rec, dict):
                    yield lineno, rec
                else:
                    bad(path, lineno, "expected an object", type(rec).__name__)
        except (OSError, EOFError) as e:  # a truncated gzip stream
            raise DataError(f"{path}: unreadable ({e}); download it again") from None


def price(value) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    m = _PRICE.match(str(value or "").strip())
    return float(m.group(1)) if m else None


def amazon_files(root: Path) -> tuple[Path, Path] | None:
    """(reviews, metadata) in `root`, either release, or None."""
    metas = sorted(root.glob("meta_*.json.gz")) + sorted(root.glob("meta_*.json"))
    for meta in metas:
        category = meta.name[len("meta_"):].split(".json")[0]
        for name in (f"{category}_5.json.gz", f"reviews_{category}_5.json.gz", f"{category}_5.json",
                     f"reviews_{category}_5.json"):
            if (root / name).is_file():
                return root / name, meta
    return None


def load_amazon(root: Path, name: str, bad: BadRows) -> Dataset:
    reviews, meta = amazon_files(root)
    rows = []
    for lineno, rec in records(meta, bad):
        title = _text(rec.get("title"))
        if not rec.get("asin") or not title:
            continue
        cats = rec.get("category") or rec.get("categories") or []
        if cats and isinstance(cats[0], list):  # 2014: a list of category paths
            cats = list(dict.fromkeys(c for path in cats for c in path))
        rows.append((lineno, {"id": rec["asin"], "title": title, "brand": _text(rec.get("brand")),
                              "categories": [_text(c) for c in cats if _text(c)], "price": price(rec.get("price")),
                              "description": _text(rec.get("description"))}))
    items = unique_items(rows, meta, bad)
    known = {it["id"] for it in items}
    events = []
    for lineno, rec in records(reviews, bad):
        user, item, t = rec.get("reviewerID"), rec.get("asin"), rec.get("unixReviewTime")
        if user is None or item is None or not isinstance(t, int):
            bad(reviews, lineno, "review needs reviewerID, asin and unixReviewTime")
            continue
        if item not in known:
            bad.counts[f"{reviews.name}: item without a metadata title"] += 1
            continue
        events.append(Event(str(user), item, t, float(rec.get("overall") or 1.0), lineno))
    schema = {"brand": "text", "categories": "list", "price": "float", "description": "text"}
    return assemble(name, str(root), items, events, reviews, bad, schema)


def load_steam(root: Path, name: str, bad: BadRows) -> Dataset:
    games, reviews = root / "steam_games.json.gz", root / "steam_reviews.json.gz"
    rows = []
    for lineno, rec in records(games, bad):
        title = _text(rec.get("title") or rec.get("app_name"))
        if rec.get("id") is None or not title:
            continue
        rows.append((lineno, {
            "id": str(rec["id"]), "title": title, "genres": rec.get("genres") or [], "tags": rec.get("tags") or [],
            "price": price(rec.get("price")), "developer": _text(rec.get("developer")),
            "publisher": _text(rec.get("publisher")), "release_year": _year(rec.get("release_date")),
            "sentiment": _text(rec.get("sentiment")), "metascore": _int(rec.get("metascore"))}))
    items = unique_items(rows, games, bad)
    known = {it["id"] for it in items}
    events = []
    for lineno, rec in records(reviews, bad):
        user, item = rec.get("username") or rec.get("user_id"), rec.get("product_id")
        t = _date(rec.get("date"))
        if user is None or item is None or t is None:
            bad(reviews, lineno, "review needs username, product_id and a date")
            continue
        if str(item) not in known:
            bad.counts[f"{reviews.name}: item without a metadata title"] += 1
            continue
        events.append(Event(str(user), str(item), t, 1.0, lineno))
    schema = {"genres": "list", "tags": "list", "price": "float", "developer": "text", "publisher": "text",
              "release_year": "int", "sentiment": "text", "metascore": "int"}
    return assemble(name, str(root), items, events, reviews, bad, schema)


def _text(value) -> str | None:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = str(value).strip() if value is not None else ""
    return text or None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _date(value) -> int | None:
    try:
        return int(datetime.strptime(str(value), "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp())
    except ValueError:
        return None


def _year(value) -> int | None:
    m = re.match(r"(\d{4})", str(value or ""))
    return int(m.group(1)) if m else None
