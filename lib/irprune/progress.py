"""Rate-limited progress lines for long loops (training, pruning recovery, MLM pretraining, DSI, task training).

A stage runs inside a papermill kernel whose output goes to the executed notebook, not the terminal.  A progress
line is written to the kernel's stderr with the prefix :data:`PREFIX`; :mod:`irprune.notebook` forwards exactly
those lines to the terminal (and the notebook log keeps them).  Lines are rate-limited: at most one every
``IRPRUNE_PROGRESS_EVERY`` seconds (default 10; 30 when the terminal is not a TTY, e.g. CI), plus the first and the
last step and every evaluation, so a long stage prints a few dozen lines, never a bar redrawn per step.
``IRPRUNE_PROGRESS=0`` turns them off.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

PREFIX = "[progress] "
ENV_EVERY = "IRPRUNE_PROGRESS_EVERY"
ENV_ENABLED = "IRPRUNE_PROGRESS"


def _default_every() -> float:
    try:
        return float(os.environ[ENV_EVERY])
    except (KeyError, ValueError):
        return 10.0


def emit(text: str) -> None:
    """Write one progress line (prefixed) to stderr, unless progress is turned off."""
    if os.environ.get(ENV_ENABLED, "1") == "0":
        return
    print(PREFIX + text, file=sys.stderr, flush=True)


class Progress:
    """``Progress("train conv_knrm", total=800)``; call :meth:`step` after every step (with values to show) and
    :meth:`note` for events (an evaluation) that always print."""

    def __init__(self, label: str, total: int | None = None, *, every_s: float | None = None, unit: str = "step",
                 clock: Callable[[], float] = time.monotonic, sink: Callable[[str], None] = emit) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.every_s = _default_every() if every_s is None else every_s
        self.clock, self.sink = clock, sink
        self.t0 = clock()
        self.last: float | None = None

    def _line(self, n: int, fields: dict[str, Any]) -> str:
        of = f"/{self.total}" if self.total else ""
        pct = f" ({100 * n / self.total:.0f}%)" if self.total else ""
        vals = "".join(f", {k} {v:.4g}" if isinstance(v, float) else f", {k} {v}" for k, v in fields.items())
        return f"{self.label}: {self.unit} {n}{of}{pct}{vals}, {self.clock() - self.t0:.0f}s"

    def step(self, n: int, **fields: Any) -> None:
        """Report step ``n``; printed when it is the first, the last, or ``every_s`` after the previous line."""
        now = self.clock()
        if self.last is None or n == self.total or now - self.last >= self.every_s:
            self.last = now
            self.sink(self._line(n, fields))

    def note(self, text: str) -> None:
        """An event line (e.g. an evaluation), always printed."""
        self.last = self.clock()
        self.sink(f"{self.label}: {text}")


class TerminalEcho:
    """A file-like sink for papermill's ``stderr_file``: forwards the kernel's progress lines to ``stream``."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.buffer = ""

    def write(self, text: str) -> int:
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            if line.startswith(PREFIX):
                self.stream.write(line[len(PREFIX):] + "\n")
        self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


__all__ = ["PREFIX", "Progress", "TerminalEcho", "emit"]
