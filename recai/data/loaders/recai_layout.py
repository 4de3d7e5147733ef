"""RecAI's own dataset layout, read and written, so RecAI users can bring their data and take ours.

  metadata.json          one JSON object per line: "id", "title", any other fields
  sequential_data.txt    one line per user: `user_id item_id item_id ...` (time order)
  negative_samples.txt   optional, same shape: `user_id item_id ...` negatives for sampled protocols

RecAI's scripts index items by the integer ids 1..N of metadata.json, so `save_recai` writes
positional ids and keeps the dataset's own id in a `source_id` field; `load_recai` reads
`source_id` back as the item id when it is there, which makes the round trip lossless.
"""
from __future__ import annotations

import json
from pathlib import Path

from recai.data.atomic import atomic_text
from recai.data.dataset import Dataset
from recai.data.loaders.common import BadRows, Event, assemble, column_name, unique_items
from recai.data.negatives import read_negatives
from recai.errors import DataError

FILES = ("metadata.json", "sequential_data.txt")


def load_recai(root: Path, name: str, bad: BadRows) -> Dataset:
    meta_path, seq_path = root / "metadata.json", root / "sequential_data.txt"
    records = _metadata(meta_path, bad)
    file_to_id: dict[str, str] = {}
    rows = []
    for lineno, rec in records:
        if "id" not in rec or "title" not in rec:
            bad(meta_path, lineno, "record needs 'id' and 'title'", f"keys {sorted(rec)[:8]}")
            continue
        item = {column_name(k): v for k, v in rec.items() if k not in ("id", "source_id", "title")}
        item["title"] = rec["title"]
        item["id"] = str(rec.get("source_id", rec["id"]))
        file_to_id[str(rec["id"])] = item["id"]
        rows.append((lineno, item))
    items = unique_items(rows, meta_path, bad)
    if not seq_path.is_file():
        raise DataError(f"{seq_path}: file not found (RecAI layout needs {FILES})")
    events = []
    with open(seq_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) == 1:
                bad(seq_path, lineno, "user with no items", repr(parts[0]))
            for pos, raw in enumerate(parts[1:]):
                # An id missing from metadata stays as written; `assemble` reports it as unknown.
                events.append(Event(parts[0], file_to_id.get(raw, raw), pos, 1.0, lineno))
    ds = assemble(name, str(root), items, events, seq_path, bad)
    ds.has_timestamps = False  # positions in the line, not times
    neg_path = root / "negative_samples.txt"
    if neg_path.is_file():
        index = {raw: ds.catalog.index(cid) for raw, cid in file_to_id.items() if ds.catalog.get_index(cid) is not None}
        ds.negatives = read_negatives(neg_path, index)
    return ds


def _metadata(path: Path, bad: BadRows) -> list[tuple[int, dict]]:
    """(line, record) pairs from JSON lines, or from one JSON list / {id: record} document."""
    if not path.is_file():
        raise DataError(f"{path}: file not found (RecAI layout needs {FILES})")
    text = path.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, list):
        return [(i + 1, r) for i, r in enumerate(whole)]
    if isinstance(whole, dict) and all(isinstance(v, dict) for v in whole.values()) and "title" not in whole:
        return [(i + 1, {"id": k, **v}) for i, (k, v) in enumerate(whole.items())]
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            bad(path, lineno, "invalid JSON", e.msg)
            continue
        if not isinstance(rec, dict):
            bad(path, lineno, "expected a JSON object", type(rec).__name__)
            continue
        out.append((lineno, rec))
    return out


def save_recai(ds: Dataset, root: str | Path) -> Path:
    """Write `ds` in RecAI's layout under `root` (created if needed); each file replaced atomically."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    cat, data = ds.catalog, ds.interactions

    def metadata(f):
        for i in range(len(cat)):
            item = cat.item(i)
            record = {"id": i + 1, "title": item.pop("title"), "source_id": item.pop("id")}
            record.update({k: v for k, v in item.items() if v is not None})
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def sequences(f):
        for u, seq in enumerate(data.sequences()):
            f.write(" ".join([data.user_ids[u], *(str(i + 1) for i in seq.tolist())]) + "\n")

    with atomic_text(root / "metadata.json") as f:
        metadata(f)
    with atomic_text(root / "sequential_data.txt") as f:
        sequences(f)
    if ds.negatives:
        with atomic_text(root / "negative_samples.txt") as f:
            for u, items in ds.negatives.items():
                f.write(" ".join([u, *(str(i + 1) for i in items.tolist())]) + "\n")
    return root
