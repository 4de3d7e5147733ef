"""What the agent's tools work over: catalog, histories, title matcher, a ranker and an item index.

`Domain.build(dataset)` loads a dataset and trains (or loads from `$RECAI_HOME/agent/<name>/`) the
SASRec ranker and the embedding index, so a second run starts in seconds. Each cached piece sits
beside a fingerprint of the data it was made from, and is rebuilt when that no longer matches.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from recai.data.atomic import atomic_path


@dataclass(eq=False)
class Domain:
    name: str
    catalog: object  # recai.data.Catalog
    interactions: object  # recai.data.Interactions (catalog indices)
    matcher: object  # recai.text.fuzzy.TitleMatcher over catalog titles
    popularity: torch.Tensor  # (n_items,) interaction counts
    ranker: object | None = None  # a recai.recsys model with score(histories=...), e.g. SASRec
    embedder: object | None = None  # recai.emb.Embedder, for the soft filter's text queries
    index: object | None = None  # recai.emb.ItemIndex of item texts, ids = catalog ids

    @property
    def n_items(self) -> int:
        return len(self.catalog)

    @property
    def category_attr(self) -> str | None:
        """The list attribute that reads as the item's category ("genres" when there is one)."""
        lists = [a for a, kind in self.catalog.schema.items() if kind == "list"]
        return "genres" if "genres" in lists else (lists[0] if lists else None)

    @cached_property
    def item_categories(self) -> list[list[str]]:
        """Each item's category values (empty lists when the catalog has no list attribute)."""
        attr = self.category_attr
        return [v or [] for v in self.catalog.values(attr)] if attr else [[] for _ in range(self.n_items)]

    @classmethod
    def from_parts(cls, name, catalog, interactions, ranker=None, embedder=None, index=None) -> "Domain":
        from recai.text.fuzzy import TitleMatcher

        if index is not None and index.ids != list(catalog.ids):
            # The tools address index rows by catalog index, so the two must be in the same order.
            raise ValueError(f"the item index ({len(index)} items) is not in the catalog's item order")
        counts = np.bincount(interactions.item, minlength=len(catalog)) if len(interactions.item) else np.zeros(len(catalog))
        return cls(name, catalog, interactions, TitleMatcher(catalog.titles, ids=catalog.ids),
                   torch.as_tensor(counts, dtype=torch.float32), ranker, embedder, index)

    @classmethod
    def build(cls, dataset="ml-latest-small", embedder: str | None = "minilm-l6", ranker_epochs: int = 12,
              home: Path | None = None, progress: bool = True) -> "Domain":
        """Load `dataset` (anything `recai.data.load` takes, or a loaded Dataset) and make or reuse its
        ranker and index.

        embedder: a model SPEC for the item index and soft filter, or None for neither.
        ranker_epochs: most SASRec epochs when it must be trained (early-stopped on validation).
        home: the cache folder (default $RECAI_HOME/agent/<dataset name>).
        """
        from recai.data import load
        from recai.hub import cache_dir

        data = load(dataset) if isinstance(dataset, (str, Path)) else dataset
        home = Path(home) if home is not None else cache_dir() / "agent" / _safe(data.name)
        fingerprint = _fingerprint(data)
        ranker = _ranker(data, home / "sasrec", fingerprint, ranker_epochs, progress)
        emb = index = None
        if embedder is not None:
            emb, index = _index(data.catalog, embedder, home / f"index-{_safe(embedder)}.safetensors",
                                fingerprint, progress)
        return cls.from_parts(data.name, data.catalog, data.interactions, ranker, emb, index)


def _ranker(data, folder: Path, fingerprint: str, epochs: int, show: bool):
    from recai.recsys import SASRec, load

    if _fresh(folder / "fingerprint.json", fingerprint):
        return load(folder)
    _note(f"training SASRec on {data.name} (once; cached in {folder})", show)
    start = time.monotonic()
    split = data.split("leave-one-out")
    model = SASRec().fit(split.train, split.valid, epochs=epochs, patience=3, progress=show)
    model.save(folder)
    _stamp(folder / "fingerprint.json", fingerprint)
    _note(f"SASRec ready in {time.monotonic() - start:.0f} s", show)
    return model


def _index(catalog, spec: str, path: Path, fingerprint: str, show: bool):
    from recai.emb import Embedder, ItemIndex
    from recai.emb.tasks import catalog_texts

    embedder = Embedder.from_pretrained(spec)
    stamp = path.with_suffix(".json")
    if path.is_file() and _fresh(stamp, fingerprint):
        return embedder, ItemIndex.load(path)
    _note(f"embedding {len(catalog)} items with {spec} (once; cached in {path})", show)
    index = ItemIndex.build(embedder, catalog_texts(catalog), ids=catalog.ids, progress=show)
    path.parent.mkdir(parents=True, exist_ok=True)
    index.save(path)
    _stamp(stamp, fingerprint)
    return embedder, index


def _fingerprint(data) -> str:
    """A hash of the catalog ids/titles and the interactions: a cached model is valid for exactly these."""
    h = hashlib.sha256()
    h.update("\n".join(f"{i}\t{t}" for i, t in zip(data.catalog.ids, data.catalog.titles)).encode())
    for arr in (data.interactions.user, data.interactions.item, data.interactions.time):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _fresh(stamp: Path, fingerprint: str) -> bool:
    try:
        return json.loads(stamp.read_text())["fingerprint"] == fingerprint
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _stamp(stamp: Path, fingerprint: str) -> None:
    stamp.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(stamp) as tmp:
        Path(tmp).write_text(json.dumps({"fingerprint": fingerprint}))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _note(text: str, show: bool) -> None:
    if show:
        print(f"recai: {text}", file=sys.stderr, flush=True)
