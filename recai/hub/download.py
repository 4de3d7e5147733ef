"""One file from the HF hub's resolve endpoint: resumed through `<file>.part`, retried, sha256-checked.

Large (LFS) files come with their sha256 in a header and are verified against it; small git files
have none to check. `requests` is imported when a download runs, never at import time.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

from recai.errors import FetchError
from recai.hub.files import CHUNK, hash_file
from recai.hub.progress import Progress

HF_TIMEOUT = (10, 60)  # seconds: connect, and between two reads of the body
HF_RETRIES = 5  # attempts per file, for connection errors, short bodies, 429 and 5xx
HF_BACKOFF_S = 1.0  # first wait between attempts, doubled each time, capped at 30 s
_HEX64 = re.compile(r"[0-9a-f]{64}")


class Missing(Exception):
    """The server answered 404; the caller knows whether the file was optional."""


class _Transient(Exception):
    """A failure worth retrying: 429/5xx, a short body, a range the server would not honour."""


def fetch_file(session, url: str, dest: Path, bar: Progress, spec: str) -> None:
    """Download `url` to `dest` through `dest.part`, resuming it, retrying, verifying sha256.

    session: a requests.Session carrying the auth headers. spec names the model in errors.
    Raises Missing on 404, FetchError on any other failure once HF_RETRIES attempts are spent.
    """
    import requests

    part = dest.with_name(dest.name + ".part")
    last: Exception | None = None
    for attempt in range(HF_RETRIES):
        if attempt:
            time.sleep(min(HF_BACKOFF_S * 2 ** (attempt - 1), 30.0))
        try:
            expected, actual = _get_once(session, url, part, bar, dest.name, spec)
        except (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError, _Transient) as e:
            last = e
            continue
        if expected is not None and actual != expected:
            part.unlink()
            raise FetchError(
                f"{spec}: sha256 mismatch for {dest.name} from {url}: expected {expected}, "
                f"got {actual}; the download was deleted, fetch again to retry"
            )
        os.replace(part, dest)
        return
    kept = f" The partial download {part} is kept; the next fetch resumes it." if part.exists() else ""
    raise FetchError(
        f"{spec}: giving up on {url} after {HF_RETRIES} attempts (last: {last}).{kept} "
        "Check the network connection and $RECAI_HF_ENDPOINT."
    )


def _get_once(session, url: str, part: Path, bar: Progress, label: str, spec: str):
    """One GET into `part`, resuming it with a Range request. Returns (expected_sha256|None, actual)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, headers=headers, stream=True, timeout=HF_TIMEOUT) as r:
        _check_status(r, url, spec, part)
        resumed = r.status_code == 206
        if resumed and not r.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            part.unlink()
            got = r.headers.get("Content-Range")
            raise _Transient(f"{url} answered Content-Range {got!r} to Range bytes={have}-")
        if not resumed:
            have = 0  # a 200 is the whole file: start over
        expected = _expected_sha256(r)
        length = r.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        h = hash_file(part) if resumed else hashlib.sha256()
        bar.start(label, total, have)
        with open(part, "ab" if resumed else "wb") as f:
            for chunk in r.iter_content(CHUNK):
                f.write(chunk)
                h.update(chunk)
                bar.advance(len(chunk))
            f.flush()
            os.fsync(f.fileno())
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Transient(f"{label}: got {size} of {total} bytes")
    return expected, h.hexdigest()


def _check_status(r, url: str, spec: str, part: Path) -> None:
    code = r.status_code
    if code in (200, 206):
        return
    if code == 404:
        raise Missing(url)
    if code in (401, 403):
        raise FetchError(
            f"{spec}: {url} answered {code}: the repo may be gated or private; accept its terms "
            "on the hub and set HF_TOKEN to an access token that can read it"
        )
    if code == 416:  # our part file is not a prefix the server knows: start over
        part.unlink(missing_ok=True)
        raise _Transient(f"{url} answered 416 to a resumed request")
    if code == 429 or code >= 500:
        raise _Transient(f"{url} answered {code}")
    raise FetchError(f"{spec}: {url} answered {code} {r.reason}")


def _expected_sha256(r) -> str | None:
    """The LFS sha256 HF sends for large files: X-Linked-Etag on the redirect, or a 64-hex ETag."""
    for resp in (*r.history, r):
        for key in ("X-Linked-Etag", "ETag"):
            value = resp.headers.get(key, "").removeprefix("W/").strip('"').lower()
            if _HEX64.fullmatch(value):
                return value
    return None  # small files are in git, their ETag is a sha1 of the blob: nothing to check
