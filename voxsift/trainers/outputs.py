"""Where a training writes: its output folder, local or remote, through :mod:`voxsift.io`.

torch and Hugging Face save to local paths, so the recipe always works in a local folder: the
output itself when it is local, a private temporary folder when it is remote (``gs://``,
``s3://``, any Beam filesystem). :meth:`TrainOutput.publish` copies finished files up, each
written atomically through voxsift.io as the stages write theirs, so a remote output ends up
holding what a local one would; :meth:`TrainOutput.fetch` brings a file down to resume from it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from voxsift import io


class TrainOutput:
    """One training's output folder, named by a local path or a URI."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.remote = io.is_remote(uri)
        self._local = None if self.remote else Path(uri)
        self._sent: dict[str, tuple[int, int]] = {}

    @property
    def local(self) -> Path:
        """The folder the recipe writes in (created on first use for a remote output)."""
        if self._local is None:
            self._local = Path(tempfile.mkdtemp(prefix="voxsift-train-"))
        return self._local

    def exists(self, name: str) -> bool:
        if self.remote:
            return io.exists(io.join(self.uri, name))
        return (self.local / name).exists()

    def fetch(self, name: str) -> Path:
        """The local copy of file ``name``, downloaded first when the output is remote."""
        path = self.local / name
        if self.remote:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(io.read_bytes(io.join(self.uri, name)))
            self._sent[name] = _stamp(path)
        return path

    def publish(self, *names: str) -> None:
        """Copy the named files or folders (everything, when none is named) to a remote output.

        A local output is written in place, so there is nothing to do; files sent before and
        unchanged since are not sent again; hidden temporary files are never sent.
        """
        if not self.remote:
            return
        roots = [self.local / name for name in names] if names else [self.local]
        for root in roots:
            files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
            for path in files:
                self._send(path)

    def _send(self, path: Path) -> None:
        name = path.relative_to(self.local).as_posix()
        if any(part.startswith(".") for part in name.split("/")):
            return
        stamp = _stamp(path)
        if self._sent.get(name) == stamp:
            return
        io.write_bytes_atomic(io.join(self.uri, name), path.read_bytes())
        self._sent[name] = stamp

    def close(self) -> None:
        """Remove the local working copy of a remote output (a local output stays, of course)."""
        if self.remote and self._local is not None:
            shutil.rmtree(self._local, ignore_errors=True)
            self._local = None


def _stamp(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_mtime_ns, status.st_size
