"""Files that appear whole or not at all: write to a temporary name beside the target, then rename."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path in `path`'s folder; on success it replaces `path`, on error it is removed.

    The temporary file gets the permissions a plain `open(path, "w")` would (mkstemp's are 0600).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_text(path: str | Path):
    """Yield a text file handle (UTF-8) whose content replaces `path` only if the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yield f
