"""The cache on disk: where it is, locks between processes, hashing, and files that appear whole.

A name in the cache is always a complete file: writers go through a temporary name and rename it
into place, and a stamp next to a verified file lets later calls skip hashing it again.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on Windows: fetches there are simply not serialised
    fcntl = None

CHUNK = 1 << 20  # bytes per read when hashing, copying or downloading


def cache_dir() -> Path:
    """The cache root: $RECAI_HOME, default ~/.cache/recai (not created here)."""
    return Path(os.environ.get("RECAI_HOME") or "~/.cache/recai").expanduser()


@contextlib.contextmanager
def lock(key: str, show: bool):
    """Hold an exclusive lock for `key` across processes. Lock files stay: unlinking them races."""
    locks = cache_dir() / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / (key.replace("/", "--") + ".lock"), "a+") as f:
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if show:
                    msg = f"recai: waiting for another process fetching {key}"
                    print(msg, file=sys.stderr, flush=True)
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def hash_file(path: Path, h=None):
    """Feed the file at `path` into `h` (a fresh sha256 when None) and return it."""
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` through `path`.tmp and rename it, so readers never see half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def move_into_place(staged: Path, target: Path, is_folder: bool) -> None:
    """Rename the verified file or folder into place, replacing whatever was there.

    `staged` must sit in a private temporary folder: a folder being replaced is parked beside it.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if not is_folder:
        os.replace(staged, target)
        return
    # os.replace cannot overwrite a non-empty folder: move the old one aside, then drop it.
    old = staged.with_name("old")
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


# ---- verification stamps ----


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified.json")


def stamp(path: Path, sha256: str) -> None:
    """Record that `path` hashed to `sha256` at its size and mtime, so later calls skip hashing."""
    st = path.stat()
    record = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    write_text_atomic(_stamp_path(path), json.dumps(record) + "\n")


def stamped(path: Path, sha256: str) -> bool:
    """Whether `path` carries a stamp for `sha256` that still matches its size and mtime."""
    try:
        st = path.stat()
        record = json.loads(_stamp_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return record == {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
