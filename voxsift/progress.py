"""Progress of a stage on the local runner: items, seconds of audio, rate and ETA on stderr.

Beam runs the work in DoFns, possibly in other processes, while the driver waits. Each DoFn
instance owns a :class:`ProgressSink` that rewrites one tiny file with its running totals at most
twice a second; a thread in the driver sums those files and redraws one status line. When stderr
is not a terminal, or the runner is remote, the sink has no folder and does nothing.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TextIO

_INTERVAL = 0.5
_LOCAL_RUNNERS = {None, "DirectRunner", "direct", "SwitchingDirectRunner"}


class ProgressSink:
    """Picklable counter a DoFn updates; writes its totals to its own file in ``folder``."""

    def __init__(self, folder: str | None = None):
        self._folder = folder
        self._items, self._seconds, self._written = 0, 0.0, 0.0
        self._path: Path | None = None

    def add(self, items: int = 1, seconds: float = 0.0) -> None:
        if self._folder is None:
            return
        self._items += items
        self._seconds += seconds
        if time.monotonic() - self._written >= _INTERVAL:
            self.flush()

    def flush(self) -> None:
        if self._folder is None:
            return
        if self._path is None:
            self._path = Path(self._folder) / f"{os.getpid()}-{uuid.uuid4().hex}.txt"
        temporary = self._path.with_suffix(".tmp")
        temporary.write_text(f"{self._items} {self._seconds}")
        temporary.replace(self._path)
        self._written = time.monotonic()


def is_local(beam_args: list[str]) -> bool:
    """Whether the workers share this machine's disk (so sink files reach the driver)."""
    runner = next((a.split("=", 1)[1] for a in beam_args if a.startswith("--runner=")), None)
    embedded = "--job_endpoint=embed" in beam_args
    return runner in _LOCAL_RUNNERS or (runner == "PortableRunner" and embedded)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class ProgressDisplay:
    """Context manager: a live status line for one stage, fed by the sinks' files."""

    def __init__(self, stage: str, unit: str, total: int | None, enabled: bool,
                 stream: TextIO = sys.stderr):  # fmt: skip
        self._stage, self._unit, self._total = stage, unit, total
        self._stream = stream
        self._folder = tempfile.mkdtemp(prefix="voxsift-progress-") if enabled else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = time.monotonic()

    def sink(self) -> ProgressSink:
        return ProgressSink(self._folder)

    def __enter__(self) -> ProgressDisplay:
        if self._folder:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self._folder:
            return
        self._stop.set()
        self._thread.join()
        self._draw()
        self._stream.write("\n")
        shutil.rmtree(self._folder, ignore_errors=True)

    def _loop(self) -> None:
        while not self._stop.wait(_INTERVAL):
            self._draw()

    def _totals(self) -> tuple[int, float]:
        items, seconds = 0, 0.0
        for path in Path(self._folder).glob("*.txt"):
            try:
                count, audio = path.read_text().split()
            except (OSError, ValueError):
                continue
            items, seconds = items + int(count), seconds + float(audio)
        return items, seconds

    def line(self, items: int, seconds: float, elapsed: float) -> str:
        """The status text, e.g. ``curate  120/240 files  431.0 s audio  35.2 s/s  ETA 0:00:12``."""
        done = f"{items}/{self._total}" if self._total else f"{items}"
        text = f"{self._stage:<7} {done} {self._unit}"
        if seconds:
            text += f"  {seconds:.1f} s audio  {seconds / max(elapsed, 1e-9):.1f} s/s"
        if self._total and items:
            text += f"  ETA {_clock(elapsed / items * max(self._total - items, 0))}"
        return text

    def _draw(self) -> None:
        items, seconds = self._totals()
        line = self.line(items, seconds, time.monotonic() - self._started)
        self._stream.write("\r" + line.ljust(78))
        self._stream.flush()
