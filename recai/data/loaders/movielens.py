"""MovieLens in its three GroupLens layouts: latest (CSV), 100K (u.data/u.item), 1M (::-separated).

Items get: title as published ("Toy Story (1995)"), year (parsed from the title or release date),
genres (list), and where the files have them tags (list, latest only), imdb_id and tmdb_id, plus
popularity (number of ratings) and avg_rating computed from the ratings file itself.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from recai.data.dataset import Dataset
from recai.data.loaders.common import BadRows, Event, assemble, parse_number, read_csv, read_rows, unique_items

_YEAR = re.compile(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
ML100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                 "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                 "War", "Western"]


def title_year(title: str) -> int | None:
    m = _YEAR.search(title)
    return int(m.group(1)) if m else None


def load_latest(root: Path, name: str, bad: BadRows) -> Dataset:
    """ml-latest / ml-latest-small / ml-20m style: movies.csv, ratings.csv [, tags.csv, links.csv]."""
    events = []
    for lineno, row in read_csv(root / "ratings.csv", ["userId", "movieId", "rating", "timestamp"], bad):
        rating = parse_number(row["rating"], float, root / "ratings.csv", lineno, "rating", bad)
        ts = parse_number(row["timestamp"], int, root / "ratings.csv", lineno, "timestamp", bad)
        if rating is not None and ts is not None:
            events.append(Event(row["userId"], row["movieId"], ts, rating, lineno))
    tags: dict[str, list[str]] = defaultdict(list)
    if (root / "tags.csv").is_file():
        for _, row in read_csv(root / "tags.csv", ["movieId", "tag"], bad):
            tag = row["tag"].strip()
            if tag and tag not in tags[row["movieId"]]:
                tags[row["movieId"]].append(tag)
    links: dict[str, dict] = {}
    if (root / "links.csv").is_file():
        for _, row in read_csv(root / "links.csv", ["movieId", "imdbId", "tmdbId"], bad):
            links[row["movieId"]] = {"imdb_id": row["imdbId"] or None, "tmdb_id": row["tmdbId"] or None}
    rows = []
    for lineno, row in read_csv(root / "movies.csv", ["movieId", "title", "genres"], bad):
        genres = [g for g in row["genres"].split("|") if g and g != "(no genres listed)"]
        rows.append((lineno, {"id": row["movieId"], "title": row["title"].strip(), "year": title_year(row["title"]),
                              "genres": genres, "tags": tags.get(row["movieId"], []), **links.get(row["movieId"], {})}))
    items = unique_items(rows, root / "movies.csv", bad)
    schema = {"year": "int", "genres": "list", "tags": "list", "imdb_id": "text", "tmdb_id": "text"}
    return _with_popularity(name, str(root), items, events, root / "ratings.csv", bad, schema)


def load_100k(root: Path, name: str, bad: BadRows) -> Dataset:
    """The original ML-100K layout: u.data (tab-separated) and u.item (|-separated, latin-1)."""
    events = [e for lineno, f in read_rows(root / "u.data", "\t", 4, bad)
              if (e := _rating_event(f, root / "u.data", lineno, bad)) is not None]
    rows = []
    for lineno, f in read_rows(root / "u.item", "|", 24, bad, encoding="latin-1"):
        genres = [g for g, flag in zip(ML100K_GENRES, f[5:]) if flag == "1" and g != "unknown"]
        year = title_year(f[1]) or (int(f[2][-4:]) if f[2][-4:].isdigit() else None)
        rows.append((lineno, {"id": f[0], "title": f[1].strip(), "year": year, "genres": genres}))
    items = unique_items(rows, root / "u.item", bad)
    schema = {"year": "int", "genres": "list"}
    return _with_popularity(name, str(root), items, events, root / "u.data", bad, schema)


def load_1m(root: Path, name: str, bad: BadRows) -> Dataset:
    """ML-1M: ratings.dat and movies.dat, fields separated by '::', latin-1."""
    events = [e for lineno, f in read_rows(root / "ratings.dat", "::", 4, bad)
              if (e := _rating_event(f, root / "ratings.dat", lineno, bad)) is not None]
    rows = [(lineno, {"id": f[0], "title": f[1].strip(), "year": title_year(f[1]),
                      "genres": [g for g in f[2].split("|") if g]})
            for lineno, f in read_rows(root / "movies.dat", "::", 3, bad, encoding="latin-1")]
    items = unique_items(rows, root / "movies.dat", bad)
    schema = {"year": "int", "genres": "list"}
    return _with_popularity(name, str(root), items, events, root / "ratings.dat", bad, schema)


def _rating_event(f: list[str], path: Path, lineno: int, bad: BadRows) -> Event | None:
    rating = parse_number(f[2], float, path, lineno, "rating", bad)
    ts = parse_number(f[3], int, path, lineno, "timestamp", bad)
    if rating is None or ts is None:
        return None
    return Event(f[0], f[1], ts, rating, lineno)


def _with_popularity(name, source, items, events, events_path, bad, schema) -> Dataset:
    # Popularity and mean rating come from the ratings file itself: handy for catalog SQL ("popular
    # comedies"), but they see every rating, so evaluation code should not feed them to a ranker.
    count: dict[str, int] = defaultdict(int)
    total: dict[str, float] = defaultdict(float)
    for e in events:
        count[e.item] += 1
        total[e.item] += e.weight
    for item in items:
        n = count.get(item["id"], 0)
        item["popularity"] = n
        item["avg_rating"] = round(total[item["id"]] / n, 3) if n else None
    schema = {**schema, "popularity": "int", "avg_rating": "float"}
    return assemble(name, source, items, events, events_path, bad, schema)
