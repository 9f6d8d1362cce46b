"""A plain progress bar on stderr: redrawn in place on a terminal, one line per layer otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO

_MIB = 1024 * 1024


class Progress:
    def __init__(self, total_blobs: int, total_bytes: int, *, stream: IO[str] | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total_blobs = total_blobs
        self.total_bytes = max(total_bytes, 0)
        self.width = width
        self.done_blobs = 0
        self.done_bytes = 0
        self.current = ""
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = 0.0

    def _line(self) -> str:
        fraction = self.done_bytes / self.total_bytes if self.total_bytes else 1.0
        filled = int(self.width * min(fraction, 1.0))
        bar = "#" * filled + "-" * (self.width - filled)
        return (
            f"  [{bar}] {fraction:4.0%}  {self.done_blobs}/{self.total_blobs} layers  "
            f"{self.done_bytes / _MIB:.1f}/{self.total_bytes / _MIB:.1f} MiB  {self.current}"
        )

    def start(self, digest: str) -> None:
        self.current = digest[:19]
        self._draw(force=True)

    def advance(self, nbytes: int) -> None:
        self.done_bytes += nbytes
        self._draw()

    def finish(self) -> None:
        self.done_blobs += 1
        if self.interactive:
            self._draw(force=True)
        else:
            print(self._line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.interactive:
            print(file=self.stream, flush=True)

    def _draw(self, force: bool = False) -> None:
        if not self.interactive:
            return
        now = time.monotonic()
        if force or now - self._last_draw > 0.1:
            self._last_draw = now
            print("\r" + self._line(), end="", file=self.stream, flush=True)
