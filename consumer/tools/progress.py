"""A progress bar on stderr when a person is watching; silent otherwise."""

from __future__ import annotations

import sys

CLEAR_LINE = "\r\033[K"


class Progress:
    def __init__(self, total: int, label: str, width: int = 30) -> None:
        self.total = total
        self.done = 0
        self.label = label
        self.width = width
        self.enabled = sys.stderr.isatty() and total > 0
        self._drawn = False

    def advance(self, count: int = 1) -> None:
        self.done += count
        # The total can be an estimate (a queue's approximate depth): never draw past the end.
        self.total = max(self.total, self.done)
        self._draw()

    def message(self, text: str) -> None:
        """A line on stderr that does not run into the bar: the bar is redrawn below it."""
        if self.enabled and self._drawn:
            sys.stderr.write(CLEAR_LINE)
        sys.stderr.write(f"{text}\n")
        self._draw()

    def close(self) -> None:
        if self.enabled and self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False

    def _draw(self) -> None:
        if not self.enabled or self.total <= 0:
            return
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
        sys.stderr.flush()
        self._drawn = True
