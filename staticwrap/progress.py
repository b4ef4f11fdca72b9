"""A one-line progress display for the command line: drawn on a terminal, silent elsewhere (CI, pipes)."""

from __future__ import annotations

import shutil
import sys
from types import TracebackType
from typing import TextIO

_BAR_WIDTH = 24


class Progress:
    """Count finished items and redraw one line on ``stream``.

    Nothing is written unless ``stream`` is a terminal and ``enabled``, so a
    CI log gets only the final summary. The total may be unknown (``None``);
    then only the count is shown.
    """

    def __init__(self, *, label: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.done = 0
        self.active = enabled and self.stream.isatty()

    def advance(self, name: str, total: int | None = None) -> None:
        """One more item is done; ``name`` is shown after the count."""
        self.done += 1
        if not self.active:
            return
        if total:
            filled = _BAR_WIDTH * min(self.done, total) // total
            count = f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {self.done}/{total}"
        else:
            count = str(self.done)
        width = shutil.get_terminal_size((80, 20)).columns
        self.stream.write("\r" + f"{self.label} {count} {name}"[: width - 1].ljust(width - 1))
        self.stream.flush()

    def step(self, done: int, total: int | None, name: str) -> None:
        """:meth:`advance`, with the ``progress(done, total, name)`` signature of ``build()`` and ``publish()``."""
        self.advance(name, total)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Clear the line, leaving the terminal as it was."""
        if self.active and self.done:
            width = shutil.get_terminal_size((80, 20)).columns
            self.stream.write("\r" + " " * (width - 1) + "\r")
            self.stream.flush()
