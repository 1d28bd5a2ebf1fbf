"""A one-line progress bar on stderr: no dependency, no output when disabled."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Redraw ``prefix [####....] done/total extra`` in place on a text stream.

    Parameters
    ----------
    total : int
        Steps in the bar.
    prefix : str
        Text before the bar (e.g. ``"epoch 3/10"``).
    stream : text stream, optional
        Where to draw; default ``sys.stderr`` (looked up when the bar is made).
    enabled : bool, default True
        When False the bar writes nothing.
    width : int, default 24
        Characters in the bar.
    interval : float, default 0.1
        Least seconds between two redraws (the last step always redraws).

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgressBar(4, "epoch 1/1", stream=out, width=4, interval=0)
    >>> for _ in range(4):
    ...     bar.update(text="loss 0.5")
    >>> bar.close("done")
    >>> out.getvalue().splitlines()[-1].rstrip()
    'epoch 1/1 done'
    """

    def __init__(
        self,
        total: int,
        prefix: str = "",
        stream: TextIO | None = None,
        enabled: bool = True,
        width: int = 24,
        interval: float = 0.1,
    ):
        self.total, self.prefix, self.width, self.interval = max(int(total), 1), prefix, width, interval
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.done = 0
        self._last = -float("inf")
        self._shown = 0

    def update(self, n: int = 1, text: str = "") -> None:
        """Advance by ``n`` steps and redraw if ``interval`` has passed (or the bar is full)."""
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last >= self.interval or self.done >= self.total):
            self._last = now
            filled = self.width * min(self.done, self.total) // self.total
            bar = "#" * filled + "." * (self.width - filled)
            self._draw(f"{self.prefix} [{bar}] {self.done}/{self.total} {text}".rstrip())

    def close(self, summary: str = "") -> None:
        """Replace the bar by ``prefix summary`` and end the line."""
        if self.enabled:
            self._draw(f"{self.prefix} {summary}".rstrip())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, line: str) -> None:
        pad = " " * max(0, self._shown - len(line))  # wipe what a longer previous line left
        self.stream.write("\r" + line + pad)
        self.stream.flush()
        self._shown = len(line)
