"""Progress lines: loss, seconds of audio per second, ETA.

On a terminal every step redraws one line; in a log (stdout not a TTY) only every ``every``-th
step and the last one print, so a long run does not flood CI or batch-job logs.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Rates are over this session's steps, so a resumed run does not count the old ones."""

    def __init__(self, first_step: int, total: int, every: int, stream: TextIO | None = None):
        self.first, self.total, self.every = first_step, total, every
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self.audio = 0.0
        self._open_line = False

    def update(
        self, step: int, loss: float, audio_seconds: float, lr: float, note: str = ""
    ) -> None:
        self.audio += audio_seconds
        last = step == self.total
        if not self.tty and step % self.every and not last:
            return
        elapsed = time.monotonic() - self.start
        done = step - self.first + 1
        eta = elapsed / done * (self.total - step)
        line = (
            f"step {step}/{self.total} loss {loss:.4f} lr {lr:.2e} "
            f"audio {self.audio / max(elapsed, 1e-9):.1f} s/s eta {_clock(eta)}"
            + (f" {note}" if note else "")
        )
        if self.tty:
            end = "\n" if last or step % self.every == 0 else ""
            self.stream.write(f"\r{line}\033[K{end}")
            self._open_line = not end
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def say(self, message: str) -> None:
        """A message on its own line (ends a redrawn TTY line first)."""
        self.stream.write(("\n" if self._open_line else "") + message + "\n")
        self._open_line = False
        self.stream.flush()
