"""The download progress line on stderr, and when to show it."""
from __future__ import annotations

import sys
import time


def want_progress(progress: bool | None) -> bool:
    """`progress` when given; otherwise only when stderr is a terminal."""
    if progress is not None:
        return progress
    return sys.stderr is not None and sys.stderr.isatty()


class Progress:
    """One stderr line, rewritten in place: file, MB done of total, percent, MB/s."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.used = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.used:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def start(self, label: str, total: int | None, done: int) -> None:
        self.label, self.total, self.done, self.new = label, total, done, 0
        self.t0 = self.shown = time.monotonic()
        self._show(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self.new += n
        self._show(force=self.total is not None and self.done >= self.total)

    def _show(self, force: bool) -> None:
        now = time.monotonic()
        # At most ten redraws a second, but always the first and the last.
        if not self.enabled or (not force and now - self.shown < 0.1):
            return
        self.shown, self.used = now, True
        rate = self.new / 1e6 / max(now - self.t0, 1e-6)
        size = f"{self.done / 1e6:.1f}"
        if self.total:
            size += f"/{self.total / 1e6:.1f} MB {100 * self.done / self.total:3.0f}%"
        else:
            size += " MB"
        line = f"{self.label} {size} {rate:.1f} MB/s"
        # Pad so a shorter line fully covers the previous one.
        sys.stderr.write("\r" + line.ljust(getattr(self, "width", 0)))
        self.width = len(line)
        sys.stderr.flush()
