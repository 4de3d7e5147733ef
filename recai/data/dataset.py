"""A Dataset: one catalog, the interactions over it, and where they came from."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from recai.data.catalog import Catalog
from recai.data.interactions import Interactions
from recai.data.splits import Split, leave_one_out, temporal_split
from recai.errors import DataError


@dataclass(eq=False)
class Dataset:
    name: str
    catalog: Catalog
    interactions: Interactions
    source: str  # the path or package location it was read from
    negatives: dict[str, np.ndarray] | None = None  # user id -> item indices, when the source had them
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows skipped under skip_bad
    has_timestamps: bool = True  # False: histories are in file order (e.g. Last.fm, RecAI layout)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}: {len(self.catalog)} items, {self.interactions.n_users} users, "
                f"{len(self.interactions)} interactions)")

    def kcore(self, min_user: int = 5, min_item: int = 5) -> "Dataset":
        """Iterative k-core filter; the catalog keeps only items that still have events, renumbered."""
        core = self.interactions.kcore(min_user, min_item)
        kept = np.nonzero(core.item_counts() > 0)[0]
        negatives = None
        if self.negatives is not None:
            remap = {int(old): new for new, old in enumerate(kept)}
            negatives = {u: np.array([remap[i] for i in items if int(i) in remap], np.int64)
                         for u, items in self.negatives.items()}
        return Dataset(f"{self.name}-{min_user}u{min_item}i-core", self.catalog.subset(kept),
                       core.reindex_items(kept), self.source, negatives, dict(self.skipped), self.has_timestamps)

    def split(self, protocol: str = "leave-one-out", **options) -> Split:
        """`leave-one-out` (default) or `temporal` (options: valid, test fractions)."""
        self.interactions.require_users(1, f"the {protocol} split")
        if protocol in ("leave-one-out", "loo"):
            return leave_one_out(self.interactions)
        if protocol == "temporal":
            return temporal_split(self.interactions, **options)
        raise DataError(f"unknown split protocol {protocol!r}; use 'leave-one-out' or 'temporal'")

    def info(self) -> dict:
        """Counts, sparsity, history lengths and a per-attribute summary (for `recai data info`)."""
        data, lengths = self.interactions, self.interactions.lengths()
        out = {
            "name": self.name, "source": self.source, "items": len(self.catalog), "users": data.n_users,
            "interactions": len(data), "sparsity": round(data.sparsity(), 6),
            "items_with_interactions": int((data.item_counts() > 0).sum()),
            "history_length": _spread(lengths),
            "weights": _spread(data.weight) if len(data) else {},
            "has_timestamps": self.has_timestamps,
            "attributes": {a: _attribute_summary(self.catalog.values(a), kind)
                           for a, kind in self.catalog.schema.items()},
        }
        if self.negatives is not None:
            out["negatives_per_user"] = _spread(np.array([len(v) for v in self.negatives.values()]))
        if self.skipped:
            out["skipped_rows"] = dict(self.skipped)
        return out


def _spread(values: np.ndarray) -> dict:
    if len(values) == 0:
        return {}
    v = np.asarray(values, dtype=np.float64)
    return {"min": _num(v.min()), "median": _num(np.median(v)), "mean": round(float(v.mean()), 3), "max": _num(v.max())}


def _num(x: float):
    return int(x) if float(x).is_integer() else round(float(x), 3)


def _attribute_summary(values: list, kind: str) -> dict:
    present = [v for v in values if v is not None and v != []]
    out = {"type": kind, "coverage": round(len(present) / max(len(values), 1), 4)}
    if kind == "list":
        counts = Counter(x for v in present for x in v)
        out["distinct"] = len(counts)
        out["top"] = [k for k, _ in counts.most_common(8)]
    elif kind in ("int", "float"):
        out.update(_spread(np.array(present)) if present else {})
    else:
        counts = Counter(present)
        out["distinct"] = len(counts)
        if len(counts) <= 50:
            out["top"] = [k for k, _ in counts.most_common(8)]
    return out
