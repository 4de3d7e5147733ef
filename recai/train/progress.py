"""One progress line on stderr: step, loss, learning rate, throughput and ETA.

On a terminal it is redrawn in place; otherwise (logs, CI) a line is printed every `every` steps.
"""
from __future__ import annotations

import sys
import time


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Progress:
    def __init__(self, total_steps: int, start_step: int = 0, unit: str = "tok", every: int = 10,
                 enabled: bool = True, stream=None):
        self.total, self.start, self.unit, self.every = total_steps, start_step, unit, max(every, 1)
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.t0 = time.monotonic()
        self.amount = 0

    def step(self, step: int, loss: float, lr: float, amount: int) -> None:
        """After optimizer step `step` (0-based): `amount` tokens or examples were processed in it."""
        self.amount += amount
        if not self.enabled:
            return
        done = step + 1
        if not self.tty and done % self.every and done != self.total:
            return
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        rate = self.amount / elapsed
        eta = elapsed / max(done - self.start, 1) * (self.total - done)
        line = (f"step {done}/{self.total}  loss {loss:.4f}  lr {lr:.2e}  {rate:,.0f} {self.unit}/s  "
                f"ETA {_duration(eta)}")
        self.stream.write(f"\r{line}\033[K" if self.tty else line + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            self.stream.write(("\n" if self.tty else "") + text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
