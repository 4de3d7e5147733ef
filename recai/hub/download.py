"""One file from the HF hub's resolve endpoint: resumed through `<file>.part`, retried, sha256-checked.

Large (LFS) files come with their sha256 in a header and are verified against it; small git files
have none to check. The transfer itself is recai.hub.http.download_url; this module adds what is
HF-specific: where the sha256 comes from, the limits, and what 401/403 mean.
"""
from __future__ import annotations

import re
from pathlib import Path

from recai.hub.files import CHUNK
from recai.hub.http import Missing, download_url
from recai.hub.progress import Progress

__all__ = ["HF_BACKOFF_S", "HF_RETRIES", "HF_TIMEOUT", "Missing", "fetch_file"]

HF_TIMEOUT = (10, 60)  # seconds: connect, and between two reads of the body
HF_RETRIES = 5  # attempts per file, for connection errors, short bodies, 429 and 5xx
HF_BACKOFF_S = 1.0  # first wait between attempts, doubled each time, capped at 30 s
_HEX64 = re.compile(r"[0-9a-f]{64}")
_GATED = ("the repo may be gated or private; accept its terms on the hub and set HF_TOKEN to an "
          "access token that can read it")


def fetch_file(session, url: str, dest: Path, bar: Progress, spec: str) -> None:
    """Download `url` to `dest` through `dest.part`, resuming it, retrying, verifying sha256.

    session: a requests.Session carrying the auth headers. spec names the model in errors.
    Raises Missing on 404, FetchError on any other failure once HF_RETRIES attempts are spent.
    """
    # The limits are read here, at call time, so tests (and users) can adjust the module globals.
    download_url(session, url, dest, bar, what=spec, sha256_from=_expected_sha256,
                 attempts=HF_RETRIES, backoff_s=HF_BACKOFF_S, timeout=HF_TIMEOUT, chunk=CHUNK,
                 advice={401: _GATED, 403: _GATED},
                 hint="Check the network connection and $RECAI_HF_ENDPOINT.")


def _expected_sha256(r) -> str | None:
    """The LFS sha256 HF sends for large files: X-Linked-Etag on the redirect, or a 64-hex ETag."""
    for resp in (*r.history, r):
        for key in ("X-Linked-Etag", "ETag"):
            value = resp.headers.get(key, "").removeprefix("W/").strip('"').lower()
            if _HEX64.fullmatch(value):
                return value
    return None  # small files are in git, their ETag is a sha1 of the blob: nothing to check
