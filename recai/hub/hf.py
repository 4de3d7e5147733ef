"""HF hub repos: `hf:ORG/NAME[@REVISION]` fetched as a folder of config, tokenizer and weights.

Files land in `cache_dir()/hf/<ORG>--<NAME>/<REVISION>/`; a `.complete.json` marker, written last,
says the revision is whole. `requests` is imported only here, when a download is actually needed.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import quote

from recai.errors import FetchError
from recai.hub.download import Missing, fetch_file
from recai.hub.files import cache_dir, lock, write_text_atomic
from recai.hub.progress import Progress

HF_REQUIRED = ("config.json",)
HF_OPTIONAL = (
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
)
_HF_REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
_HF_REVISION = re.compile(r"[A-Za-z0-9][\w./-]*")


def parse_hf(spec: str) -> tuple[str, str]:
    """(repo, revision) of an hf: spec; the revision defaults to main. Raises FetchError if malformed."""
    repo, _, revision = spec[len("hf:"):].partition("@")
    revision = revision or "main"
    # Both become folder names in the cache: no "..", no leading separators.
    if not _HF_REPO.fullmatch(repo) or ".." in repo:
        raise FetchError(f"bad hf spec {spec!r}: expected hf:ORG/NAME[@REVISION]")
    if not _HF_REVISION.fullmatch(revision) or ".." in revision:
        raise FetchError(f"bad revision {revision!r} in {spec!r}")
    return repo, revision


def fetch_hf(spec: str, show: bool) -> Path:
    """The cache folder of an hf: spec, downloading whatever an earlier fetch did not finish."""
    repo, revision = parse_hf(spec)
    dest = cache_dir() / "hf" / repo.replace("/", "--") / revision.replace("/", "--")
    marker = dest / ".complete.json"
    # A finished revision is used as is; delete its folder to fetch a moved branch again.
    if marker.is_file():
        return dest
    import requests

    endpoint = os.environ.get("RECAI_HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    base = f"{endpoint}/{repo}/resolve/{quote(revision, safe='')}"
    with lock(f"hf--{repo}--{revision}", show), requests.Session() as session, Progress(show) as bar:
        if marker.is_file():
            return dest
        dest.mkdir(parents=True, exist_ok=True)
        token = os.environ.get("HF_TOKEN")
        if token:  # requests drops it on redirects to other hosts (the LFS CDN)
            session.headers["Authorization"] = f"Bearer {token}"
        session.headers["User-Agent"] = "recai-hub"

        def get(filename: str, required: bool) -> bool:
            if (dest / filename).is_file():  # finished by an earlier, interrupted fetch
                return True
            try:
                fetch_file(session, f"{base}/{filename}", dest / filename, bar, spec)
            except Missing:
                if required:
                    raise FetchError(f"{spec}: {base}/{filename} not found (404)") from None
                return False
            return True

        files = [f for f in HF_REQUIRED if get(f, True)]
        files += [f for f in HF_OPTIONAL if get(f, False)]
        if get("model.safetensors", False):
            files.append("model.safetensors")
        elif get("model.safetensors.index.json", False):
            files.append("model.safetensors.index.json")
            shards = _shards(dest / "model.safetensors.index.json")
            files += [s for s in shards if get(s, True)]
        else:
            raise FetchError(
                f"{spec}: no weights: neither {base}/model.safetensors nor "
                f"{base}/model.safetensors.index.json exists (404)"
            )
        write_text_atomic(marker, json.dumps({"spec": spec, "files": files}) + "\n")
    return dest


def _shards(index: Path) -> list[str]:
    """The shard file names an HF safetensors index lists, each a plain file name."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise FetchError(f"{index}: not a safetensors index with a 'weight_map' ({e!r})") from e
    for s in shards:
        # The index comes from the network: a shard name must not point outside the folder.
        if not isinstance(s, str) or not s or s != Path(s).name or s in (".", ".."):
            raise FetchError(f"{index}: weight_map names an unsafe shard file {s!r}")
    return shards
