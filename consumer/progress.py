"""A progress bar on stderr when a person is watching; silent otherwise."""

from __future__ import annotations

import sys


class Progress:
    def __init__(self, total: int, label: str, width: int = 30) -> None:
        self.total = total
        self.done = 0
        self.label = label
        self.width = width
        self.enabled = sys.stderr.isatty() and total > 0

    def advance(self, count: int = 1) -> None:
        self.done += count
        if not self.enabled:
            return
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
