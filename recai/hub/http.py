"""One URL to one file over HTTP(S): resumed through `<file>.part`, retried, sha256- and size-checked.

Shared by the HF hub path (recai.hub.download) and the dataset downloaders (recai.data.download);
each passes its own limits and the advice its errors should carry. `requests` is imported when a
download runs, never at import time.

The body is written exactly as it crossed the wire: we ask for `Accept-Encoding: identity` and do
not decode a Content-Encoding a server applies anyway, because a `.json.gz` file served with
`Content-Encoding: gzip` would otherwise be saved decompressed and fail its checksum.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Callable

from recai.errors import FetchError
from recai.hub.files import CHUNK, hash_file
from recai.hub.progress import Progress

TIMEOUT = (10, 60)  # seconds: connect, and between two reads of the body
MAX_WAIT_S = 30.0  # cap on the doubling wait between attempts


class Missing(FetchError):
    """The server answered 404; callers decide whether the file was optional."""

    def __init__(self, what: str, url: str):
        super().__init__(f"{what}: {url} not found (404)")
        self.url = url


class ChecksumMismatch(FetchError):
    """The finished download is not the expected file; it has already been deleted."""

    def __init__(self, message: str, url: str, expected: str, actual: str):
        super().__init__(message)
        self.url, self.expected, self.actual = url, expected, actual


class _Transient(Exception):
    """A failure worth retrying: 429/5xx, a short body, a range the server would not honour."""


def download_url(session, url: str, dest: Path, bar: Progress, *, what: str,
                 sha256: str | None = None, size: int | None = None,
                 sha256_from: Callable | None = None, attempts: int = 5, backoff_s: float = 1.0,
                 timeout=TIMEOUT, chunk: int = CHUNK, advice: dict[int, str] | None = None,
                 hint: str = "Check the network connection.") -> str:
    """Download `url` to `dest` through `dest.part` and return the file's sha256 (hex).

    An existing `dest.part` is resumed with a Range request; a 200 answer starts it over. Connection
    errors, short bodies, 429 and 5xx are retried up to `attempts` times, waiting `backoff_s`,
    then twice as long each time (at most 30 s).
    session: a requests.Session (carrying any auth headers). what: names the model or dataset in
        errors. sha256 / size: the expected file, when known; otherwise `sha256_from(response)` may
        read an expected sha256 from the answer's headers (None when it has none).
    advice: what to say for other status codes (e.g. {401: "set HF_TOKEN ..."}).
    hint: appended when giving up, says what to check.
    Raises Missing on 404; ChecksumMismatch (the download deleted) when the sha256 or size is wrong;
    FetchError for another status, or once the attempts are spent (the `.part` is kept to resume).
    """
    import requests
    import urllib3

    part = dest.with_name(dest.name + ".part")
    retry = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
             urllib3.exceptions.HTTPError, _Transient)
    last: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(backoff_s * 2 ** (attempt - 1), MAX_WAIT_S))
        try:
            announced, actual = _get_once(session, url, part, bar, dest.name, what, size,
                                          sha256_from, timeout, chunk, advice or {})
        except retry as e:
            last = e
            continue
        expected = sha256 or announced
        if expected is not None and actual != expected:
            part.unlink()
            raise ChecksumMismatch(
                f"{what}: sha256 mismatch for {dest.name} from {url}: expected {expected}, "
                f"got {actual}; the download was deleted, run again to retry",
                url, expected, actual)
        os.replace(part, dest)
        return actual
    kept = f" The partial download {part} is kept; the next fetch resumes it." if part.exists() else ""
    raise FetchError(f"{what}: giving up on {url} after {attempts} attempts (last: {last}).{kept} {hint}")


def _get_once(session, url, part: Path, bar: Progress, label: str, what: str, size, sha256_from,
              timeout, chunk: int, advice: dict[int, str]):
    """One GET into `part`, resuming it with a Range request. Returns (announced sha256|None, actual)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with session.get(url, headers=headers, stream=True, timeout=timeout) as r:
        _check_status(r, url, what, part, advice)
        resumed = r.status_code == 206
        if resumed and not r.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            part.unlink()
            got = r.headers.get("Content-Range")
            raise _Transient(f"{url} answered Content-Range {got!r} to Range bytes={have}-")
        if not resumed:
            have = 0  # a 200 is the whole file: start over
        length = r.headers.get("Content-Length")
        declared = have + int(length) if length and length.isdigit() else None
        _check_size(declared, size, url, what, part)
        h = hash_file(part) if resumed else hashlib.sha256()
        bar.start(label, declared or size, have)
        with open(part, "ab" if resumed else "wb") as f:
            for piece in r.raw.stream(chunk, decode_content=False):
                f.write(piece)
                h.update(piece)
                bar.advance(len(piece))
            f.flush()
            os.fsync(f.fileno())
        announced = sha256_from(r) if sha256_from else None
    got = part.stat().st_size
    if declared is not None and got != declared:
        raise _Transient(f"{label}: got {got} of {declared} bytes")
    if size is not None and got < size and declared is None:
        raise _Transient(f"{label}: got {got} of {size} bytes")
    _check_size(got, size, url, what, part)
    return announced, h.hexdigest()


def _check_size(got: int | None, size: int | None, url: str, what: str, part: Path) -> None:
    """A server offering a file of another size than expected has another file: stop early."""
    if got is None or size is None or got == size:
        return
    part.unlink(missing_ok=True)
    raise FetchError(
        f"{what}: {url} has {got} bytes, expected {size}; the server holds a different file "
        "(moved, updated, or an error page). Nothing was kept."
    )


def _check_status(r, url: str, what: str, part: Path, advice: dict[int, str]) -> None:
    code = r.status_code
    if code in (200, 206):
        return
    if code == 404:
        raise Missing(what, url)
    if code in advice:
        raise FetchError(f"{what}: {url} answered {code}: {advice[code]}")
    if code == 416:  # our part file is not a prefix the server knows: start over
        part.unlink(missing_ok=True)
        raise _Transient(f"{url} answered 416 to a resumed request")
    if code == 429 or code >= 500:
        raise _Transient(f"{url} answered {code}")
    raise FetchError(f"{what}: {url} answered {code} {r.reason}")
