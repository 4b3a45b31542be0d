"""A progress bar on stderr (no dependency): one line, rewritten in place on a terminal."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str, every_s: float = 0.5):
        self.total, self.label, self.every_s = max(total, 1), label, every_s
        self.done, self.t0, self._last = 0, time.monotonic(), 0.0
        self.tty = sys.stderr.isatty()
        self.note = ""

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        self.note = note or self.note
        now = time.monotonic()
        if now - self._last >= self.every_s or self.done >= self.total:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(self.done / self.total, 1.0)
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        elapsed = now - self.t0
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        line = (
            f"{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.0f}s eta {eta:4.0f}s "
            f"{self.note}"
        )
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()

    def close(self) -> None:
        self._draw(time.monotonic())
        if self.tty:
            sys.stderr.write("\n")
