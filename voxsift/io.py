"""Every read and write of a user path, through Beam's FileSystems (local, gs://, s3://, ...).

Nothing else in voxsift calls ``open()`` on a user path, so a config that says ``gs://bucket/x``
works on Dataflow exactly as a local folder works on a laptop. Writes are atomic: bytes go to a
hidden temporary name beside the target and are renamed into place, so a crash never leaves a
half-written file under a final name.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

_RAW = CompressionTypes.UNCOMPRESSED
READ_CHUNK_BYTES = 1 << 20


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base.rstrip("/"), *parts) if parts else base


def parent(path: str) -> str:
    return FileSystems.split(path)[0]


def basename(path: str) -> str:
    return FileSystems.split(path)[1]


def is_remote(path: str) -> bool:
    return FileSystems.get_scheme(path) is not None


def resolve(path: str, base_dir: str) -> str:
    """A manifest path: absolute paths and URIs stay, relative ones resolve against base_dir."""
    if is_remote(path) or posixpath.isabs(path):
        return path
    if is_remote(base_dir):
        return posixpath.normpath(join(base_dir, path)).replace(":/", "://", 1)
    return posixpath.normpath(posixpath.join(base_dir, path))


def is_within(path: str, roots: list[str]) -> bool:
    """Whether ``path`` lies inside one of ``roots``; local paths are compared after resolving
    symlinks, so a link that points out of a root does not count as inside it."""
    if is_remote(path):
        target = posixpath.normpath(path)
        return any(target.startswith(posixpath.normpath(r).rstrip("/") + "/") for r in roots)
    real = os.path.realpath(path)
    for root in roots:
        if is_remote(root):
            continue
        base = os.path.realpath(root)
        if os.path.commonpath([real, base]) == base:
            return True
    return False


def size(path: str) -> int:
    return FileSystems.match([path])[0].metadata_list[0].size_in_bytes


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def match(pattern: str) -> list[tuple[str, int]]:
    """(path, size) of every file matching a glob, sorted by path; empty when none match."""
    results = FileSystems.match([pattern])[0].metadata_list
    return sorted((m.path, m.size_in_bytes) for m in results)


def open_read(path: str) -> BinaryIO:
    """A seekable binary handle, for readers that stream (soundfile, pyarrow)."""
    return FileSystems.open(path, compression_type=_RAW)


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=_RAW) as handle:
        return handle.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def read_json(path: str) -> Any:
    return json.loads(read_text(path))


def iter_lines(path: str) -> Iterator[bytes]:
    """The raw lines of a file, streamed (a manifest of millions of lines is never held whole)."""
    with FileSystems.open(path, compression_type=_RAW) as handle:
        pending = b""
        while chunk := handle.read(READ_CHUNK_BYTES):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            yield from lines
        if pending:
            yield pending


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write to a hidden temporary name in the same folder, then rename into place."""
    folder, name = FileSystems.split(path)
    temporary = join(folder, f".{name}.tmp-{uuid.uuid4().hex}")
    with FileSystems.create(temporary, compression_type=_RAW) as handle:
        handle.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temporary], [path])


def write_json_atomic(path: str, value: Any) -> None:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    write_bytes_atomic(path, (text + "\n").encode("utf-8"))


def remove_tree(path: str) -> None:
    """Delete a folder and everything under it; a missing folder is fine.

    On an object store (gs://, s3://) a folder is only a name prefix that never "exists" itself,
    so the objects under it are listed and deleted.
    """
    if is_remote(path):
        found = [m.path for m in FileSystems.match([join(path, "**")])[0].metadata_list]
        if found:
            FileSystems.delete(found)
    elif FileSystems.exists(path):
        FileSystems.delete([path])


def make_dirs(path: str) -> None:
    if not is_remote(path) and not FileSystems.exists(path):
        FileSystems.mkdirs(path)


def read_parquet(pattern: str, columns: list[str] | None = None) -> pa.Table:
    """All Parquet files matching a glob as one table (the driver's view for counts and reports).

    Read through ``ParquetFile``, closed here, not ``pq.read_table``: the dataset reader behind
    the latter keeps the Python file object in fragments that Arrow may free from one of its own
    threads at interpreter exit, which then aborts the process ("terminate called without an
    active exception") after the run has finished.
    """
    tables = []
    for path, _ in match(pattern):
        with FileSystems.open(path, compression_type=_RAW) as handle, pq.ParquetFile(handle) as f:
            tables.append(f.read(columns=columns))
    if not tables:
        raise FileNotFoundError(f"no Parquet file matches {pattern}")
    return pa.concat_tables(tables)
