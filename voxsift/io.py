"""Every read and write of a user path, through Beam's FileSystems (local, gs://, s3://, ...).

Nothing else in voxsift calls ``open()`` on a user path, so a config that says ``gs://bucket/x``
works on Dataflow exactly as a local folder works on a laptop. Writes are atomic: bytes go to a
hidden temporary name beside the target and are renamed into place, so a crash never leaves a
half-written file under a final name.

Inputs are read only through ``input_size``, ``open_input``, ``read_input`` and
``iter_input_lines``: regular files and objects only, with a ceiling on what one read may take.
Those open a local file by descriptor, without blocking (Beam's local open would wait forever on a
FIFO); a remote path still goes through FileSystems.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import posixpath
import re
import stat
import uuid
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import BeamIOError, CompressionTypes
from apache_beam.io.filesystems import FileSystems

from voxsift.errors import InputError

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


def match_metadata(pattern: str) -> list[tuple[str, int, float]]:
    """(path, size, modification time) of every file matching a glob, sorted by path."""
    results = FileSystems.match([pattern])[0].metadata_list
    return sorted((m.path, m.size_in_bytes, m.last_updated_in_seconds) for m in results)


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


# Reading inputs. Everything a run reads from the user (manifests, audio, sidecar transcripts)
# goes through these: only regular files (symlinks followed) or objects are read, reads have a
# ceiling, and each refusal is an InputError whose reason becomes the reject row's.

_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_MISSING = (errno.ENOENT, errno.ENOTDIR)


def has_filesystem(path: str) -> bool:
    """Whether Beam has a filesystem for the path's scheme (a local path always has one)."""
    if not is_remote(path):
        return True
    try:
        FileSystems.get_filesystem(path)
    except Exception:  # Beam raises ValueError or BeamIOError; a plugin may raise anything
        return False
    return True


def _guarded(path: str, call: Callable[[str], Any]) -> Any:
    """``call(path)`` on a remote path, its failures (no credentials, no such bucket, a plugin's
    own exception types) as InputError: ``unsupported_uri`` or ``unreadable``."""
    if not has_filesystem(path):
        scheme = FileSystems.get_scheme(path)
        raise InputError(
            "unsupported_uri", f"no filesystem for {scheme}:// is installed or registered: {path}"
        )
    try:
        return call(path)
    except InputError:
        raise
    except Exception as error:
        raise InputError(
            "unreadable", f"cannot read {path}: {type(error).__name__}: {error}"
        ) from None


def _local_error(path: str, error: OSError | ValueError) -> InputError:
    if isinstance(error, ValueError):  # a NUL character in the path
        return InputError("unreadable", f"cannot read {path!r}: {error}")
    if error.errno in _MISSING:
        what = "a symbolic link to nothing" if os.path.islink(path) else "no such file"
        return InputError("missing_file", f"{what}: {path}")
    if error.errno == errno.ELOOP:
        return InputError("symlink_loop", f"symbolic links loop without reaching a file: {path}")
    return InputError("unreadable", f"cannot read {path}: {error.strerror or error}")


def _require_regular(path: str, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((kind for test, kind in _NOT_REGULAR if test(mode)), "not a regular file")
    raise InputError("not_a_regular_file", f"{path} is {kind}; only regular files are read")


def is_present(path: str) -> bool:
    """Whether anything is at ``path``, a dangling or looping symlink included (``exists`` says
    no to those, which would let a broken link pass for an absent file)."""
    if is_remote(path):
        return _guarded(path, FileSystems.exists)
    return os.path.lexists(path)


def input_size(path: str) -> int:
    """Bytes in a file about to be read: a regular file (symlinks followed) or an object.

    Anything else raises InputError: ``missing_file``, ``symlink_loop``, ``not_a_regular_file``
    (a FIFO, a device such as /dev/zero, a directory), ``unreadable`` or ``unsupported_uri``.
    """
    if is_remote(path):
        if not _guarded(path, FileSystems.exists):
            raise InputError("missing_file", f"no such file: {path}")
        return _guarded(path, size)
    try:
        info = os.stat(path)
    except (OSError, ValueError) as error:
        raise _local_error(path, error) from None
    _require_regular(path, info.st_mode)
    return info.st_size


def open_input(path: str) -> BinaryIO:
    """A seekable read handle on a regular file or an object, with the refusals of input_size.

    A local file is opened without blocking and checked on the open descriptor: a FIFO (whose
    plain open waits for a writer forever) or a device that never ends is refused even when it
    took a checked file's place between the check and the open.
    """
    if is_remote(path):
        return _guarded(path, open_read)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as error:
        raise _local_error(path, error) from None
    try:
        _require_regular(path, os.fstat(descriptor).st_mode)
        os.set_blocking(descriptor, True)
    except BaseException:
        os.close(descriptor)
        raise
    return os.fdopen(descriptor, "rb")


def read_input(path: str, max_bytes: int) -> bytes:
    """A file's bytes through :func:`open_input`, never more than ``max_bytes + 1`` of them: the
    caller learns that a file is larger than it allows without reading all of it."""
    with open_input(path) as handle:
        data = handle.read(max_bytes + 1)
        while len(data) <= max_bytes and (more := handle.read(max_bytes + 1 - len(data))):
            data += more
    return data


def iter_input_lines(path: str, max_line_bytes: int) -> Iterator[bytes]:
    """The lines of a file through :func:`open_input`, streamed; a line is cut after
    ``max_line_bytes + 1`` bytes and the rest of it read and dropped, so one endless line never
    fills the memory. The caller rejects a line longer than it allows."""
    keep = max_line_bytes + 1
    with open_input(path) as handle:
        line = b""
        while chunk := handle.read(READ_CHUNK_BYTES):
            *ends, rest = chunk.split(b"\n")
            for end in ends:
                yield (line + end)[:keep]
                line = b""
            line = (line + rest)[:keep]
        if line:
            yield line


def match_inputs(pattern: str) -> list[str]:
    """Every path a glob matches, sorted; locally also the symlinks that lead nowhere or loop,
    which Beam's listing leaves out without a word (so they are reported, not lost)."""
    if is_remote(pattern):
        return [path for path, _ in _guarded(pattern, match)]
    found = {path for path, _ in match(pattern)}
    broken = (p for p in glob.glob(pattern, recursive=True) if not os.path.exists(p))
    found.update(p for p in broken if os.path.islink(p))
    return sorted(found)


_TEMPORARY = re.compile(r"^\..+\.tmp-[0-9a-f]{32}$")


def _temporary_name(name: str) -> str:
    return f".{name}.tmp-{uuid.uuid4().hex}"


def is_temporary(name: str) -> bool:
    """Whether a file name is one of voxsift's atomic-write temporaries (``.NAME.tmp-<uuid>``),
    which only a killed process leaves behind: voxsift's own, never a user's."""
    return _TEMPORARY.match(name) is not None


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write to a hidden temporary name in the same folder, then rename into place.

    A failed write (a full disk among others) removes its temporary file before the error
    propagates, so nothing half-written is left behind under any name.
    """
    folder, name = FileSystems.split(path)
    temporary = join(folder, _temporary_name(name))
    try:
        with FileSystems.create(temporary, compression_type=_RAW) as handle:
            handle.write(data)
    except BaseException:
        delete_file(temporary)
        raise
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temporary], [path])


@contextlib.contextmanager
def local_temporary(path: str | os.PathLike[str]) -> Iterator[str]:
    """A hidden temporary name beside a local ``path`` for a writer that needs a file name
    (soundfile, torch.save); renamed onto ``path`` when the block ends, removed if it fails."""
    folder, name = os.path.split(os.fspath(path))
    temporary = os.path.join(folder, _temporary_name(name))
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def delete_file(path: str) -> None:
    """Delete one file if it is there (a missing one is fine)."""
    with contextlib.suppress(OSError, BeamIOError):
        if FileSystems.exists(path):
            FileSystems.delete([path])


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
