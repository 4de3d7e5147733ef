"""HetRec 2011 Last.fm 2K: artists.dat and user_artists.dat (play counts), tab-separated with headers.

There are no timestamps, so each user's history keeps the file's order; the weight is the play
count. When user_taggedartists.dat and tags.dat are present, artists get a tags list.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from recai.data.dataset import Dataset
from recai.data.loaders.common import BadRows, Event, assemble, parse_number, read_rows, unique_items


def load_lastfm(root: Path, name: str, bad: BadRows) -> Dataset:
    events = []
    path = root / "user_artists.dat"
    for lineno, (user, artist, plays) in read_rows(path, "\t", 3, bad, header=True):
        weight = parse_number(plays, float, path, lineno, "weight", bad)
        if weight is not None:
            events.append(Event(user, artist, None, weight, lineno))
    tags = _artist_tags(root, bad)
    rows = [(lineno, {"id": f[0], "title": f[1].strip(), "url": f[2] or None, "tags": tags.get(f[0], [])})
            for lineno, f in read_rows(root / "artists.dat", "\t", 3, bad, header=True, max_fields=4)]
    items = unique_items(rows, root / "artists.dat", bad)
    return assemble(name, str(root), items, events, path, bad, {"url": "text", "tags": "list"}, timed=False)


def _artist_tags(root: Path, bad: BadRows) -> dict[str, list[str]]:
    tagged, names = root / "user_taggedartists.dat", root / "tags.dat"
    if not (tagged.is_file() and names.is_file()):
        return {}
    # tags.dat is latin-1 in some copies of the archive; the names are plain words either way.
    tag_name = {f[0]: f[1] for _, f in read_rows(names, "\t", 2, bad, encoding="latin-1", header=True)}
    out: dict[str, list[str]] = defaultdict(list)
    for _, f in read_rows(tagged, "\t", 3, bad, header=True, max_fields=6):
        tag = tag_name.get(f[2])
        if tag and tag not in out[f[1]]:
            out[f[1]].append(tag)
    return out
