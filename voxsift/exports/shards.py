"""Read a voxsift shard folder sample by sample, and write an export's files inside DEST only.

Exports start from the shards (not the Parquet): they are what training consumes, carry the
final text and weight, and are the one output whose layout is stable across versions. Every shard
is read through :func:`voxsift.shardio.read_shard`, the rules ``voxsift verify`` applies: a
checked ``index.json``, shard files that are regular files of the folder, the index's sha256, and
only regular members named ``<24 hex digits>.flac|json`` (no links, folders, ``../``, absolute
names, pickles). An export checks every shard before it writes anything, and writes only through
:class:`Destination`, which refuses any path that would resolve outside DEST.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from voxsift import io, shardio
from voxsift.shardio import ShardError


class ExportError(RuntimeError):
    """An export that cannot be made; the message says what to install or fix."""


class DestinationError(ValueError):
    """A path an export would write that resolves outside DEST or would replace what is no file
    of a previous export (a folder, a symlink)."""


@dataclass(frozen=True)
class ShardSample:
    split: str
    key: str
    flac: bytes
    fields: dict[str, Any]


def read_index(shards: str) -> dict[str, Any]:
    """The shard folder's checked ``index.json`` (ShardError, a ValueError, when malformed)."""
    try:
        return shardio.read_index(shards)
    except FileNotFoundError:
        path = io.join(shards, shardio.INDEX)
        raise ExportError(
            f"{path} is missing: run the shard stage first (voxsift run or shard)"
        ) from None


def checked_index(shards: str) -> dict[str, Any]:
    """The index, once every shard it lists has passed verify's rules (and no key is in two
    shards): an export refuses a hostile folder before it writes a single file."""
    index = read_index(shards)
    owners: dict[str, str] = {}
    for entry in index["shards"]:
        keys = shardio.read_shard(shards, entry)
        repeated = shardio.repeated_keys(owners, entry["name"], keys)
        if repeated:
            raise ShardError(f"{io.join(shards, entry['name'])}: {repeated[0]}")
    return index


def read_samples(shards: str, index: dict[str, Any] | None = None) -> Iterator[ShardSample]:
    """Every sample of every shard listed in the index, in index order, one shard in memory."""
    for entry in (index or read_index(shards))["shards"]:
        for key, (flac, fields) in shardio.read_shard(shards, entry).items():
            yield ShardSample(entry["split"], key, flac, fields)


def absolute(path: str) -> str:
    """A URI stays as it is; a local path becomes absolute, so a manifest works from anywhere."""
    return path if io.is_remote(path) else os.path.abspath(path)


class Destination:
    """DEST, the one folder an export writes, used as ``with Destination(dest) as target``.

    Every file is DEST joined with plain names (no ``/``, ``..``, NUL). Locally each folder on the
    way must be a real folder, not a symlink, and a file already there a regular file (replaced),
    never a folder or a link; the resolved path must lie inside DEST. When the export fails,
    the files and folders it created are removed again, and nothing else.
    """

    def __init__(self, dest: str):
        self.dest = dest
        self.remote = io.is_remote(dest)
        self.created: list[str] = []

    def __enter__(self) -> Destination:
        if not self.remote:
            self._make_dest()
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if error is not None:
            self._undo()

    def write(self, data: bytes, *names: str) -> str:
        """Write ``DEST/names...`` atomically; returns its path."""
        path = self.path(*names)
        new = not io.exists(path)
        io.write_bytes_atomic(path, data)
        if new:
            self.created.append(path)
        return path

    def path(self, *names: str) -> str:
        """``DEST/names...``, refused unless it is a file that stays inside DEST."""
        for name in names:
            if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
                raise DestinationError(f"{shardio.shown(name)} is not a plain file name")
        path = io.join(self.dest, *names)
        if self.remote:
            return path
        folder = self.dest
        for name in names[:-1]:
            folder = os.path.join(folder, name)
            self._folder(folder)
        self._refuse_link(path)
        if os.path.lexists(path) and not stat.S_ISREG(os.lstat(path).st_mode):
            raise DestinationError(f"{path} exists and is not a file: not replacing it")
        root = os.path.realpath(self.dest)
        if os.path.commonpath([os.path.realpath(path), root]) != root:
            raise DestinationError(f"{path} resolves outside {self.dest}")
        return path

    def _make_dest(self) -> None:
        if os.path.lexists(self.dest) and not os.path.isdir(self.dest):
            raise DestinationError(f"{self.dest} exists and is not a folder")
        missing, folder = [], os.path.abspath(self.dest)
        while not os.path.lexists(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        io.make_dirs(self.dest)
        self.created += reversed(missing)

    def _folder(self, folder: str) -> None:
        if not os.path.lexists(folder):
            io.make_dirs(folder)
            self.created.append(folder)
            return
        self._refuse_link(folder)
        if not os.path.isdir(folder):
            raise DestinationError(f"{folder} exists and is not a folder")

    def _refuse_link(self, path: str) -> None:
        if os.path.islink(path):
            target = shardio.shown(os.readlink(path), 256)
            raise DestinationError(
                f"{path} is a symlink (to {target}): an export writes only inside {self.dest}"
            )

    def _undo(self) -> None:
        """Remove what this export created, newest first; a folder only when empty."""
        for path in reversed(self.created):
            if not self.remote and os.path.isdir(path) and not os.path.islink(path):
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            else:
                io.delete_file(path)
        self.created = []


def write_audio(target: Destination, sample: ShardSample) -> str:
    """``DEST/audio/KEY.flac`` with the shard's FLAC bytes unchanged; returns its absolute path.
    The key is one voxsift wrote (24 hex digits), checked when the shard was read."""
    return absolute(target.write(sample.flac, "audio", f"{sample.key}.flac"))
