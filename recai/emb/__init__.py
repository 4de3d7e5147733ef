"""RecLM-emb: text and item embeddings (`Embedder`) and an exact top-k item index (`ItemIndex`)."""
from __future__ import annotations

import importlib

# Names load on first use, so `recai --help` (which imports recai.emb.cli_embed) does not pay for torch.
_WHERE = {"Embedder": "embedder", "ItemIndex": "index", "SearchResult": "index"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'recai.emb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"recai.emb.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
