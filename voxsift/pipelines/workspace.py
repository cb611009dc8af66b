"""The run's output folder: who owns it, who may write it now, and what a stage may remove.

voxsift writes into a folder a user names, and must never destroy what it did not write. Three
rules, all checked before any work:

- **Ownership.** A folder voxsift writes carries a small ``.voxsift`` marker: the output root and
  each stage folder (``segments/``, ``shards/`` ...). A stage clears its folder only when that
  marker is there (or the folder is missing or empty); an output root that already holds files
  but no marker is somebody else's folder and is refused.
- **No overlap.** The output may not contain an input (a manifest, a glob's folder, a file a glob
  matches), and may not lie inside a folder a recursive glob reads.
- **One run at a time.** A run holds ``.voxsift.lock`` in the output root. Locally it is an
  ``flock`` lock, released by the kernel however the process ends (SIGKILL included), so a crash
  never leaves a stale lock behind. On an object store (gs://, s3://) there is no such primitive:
  the lock is an object naming its holder, removed when the run ends; one left by a killed run is
  reported with its holder and must be deleted by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import posixpath
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

from voxsift import io
from voxsift.errors import InputError

OWNER_MARKER = ".voxsift"
LOCK_FILE = ".voxsift.lock"
_GLOB_CHARS = "*?["
_MARKER_BYTES = 1 << 20


class OutputError(ValueError):
    """The output folder cannot be used as it is; the message says why and what to do."""


def _json_object(path: str) -> dict[str, Any]:
    """A small JSON file voxsift may have written, or {} when it is not one."""
    with contextlib.suppress(ValueError, OSError, AttributeError):
        if io.exists(path) and io.size(path) < _MARKER_BYTES:
            found = io.read_json(path)
            return found if isinstance(found, dict) else {}
    return {}


def _owned(folder: str) -> bool:
    """voxsift's marker, or what a voxsift from before markers left: ``run.json`` in a run
    folder, the stage's ``_SUCCESS`` in a stage folder."""
    if _json_object(io.join(folder, OWNER_MARKER)).get("written_by") == "voxsift":
        return True
    run = _json_object(io.join(folder, "run.json"))
    success = _json_object(io.join(folder, "_SUCCESS"))
    return {"config_hash", "stages"} <= run.keys() or {"stage", "fingerprint"} <= success.keys()


def _entries(folder: str) -> list[str]:
    """What a folder holds (any depth), without the lock file and the temporaries of voxsift's
    own atomic writes (a killed run leaves them); empty for a missing folder."""
    if io.is_remote(folder):
        found = [p for p, _ in io.match(io.join(folder, "**"))]
    elif os.path.isdir(folder):
        found = sorted(os.listdir(folder))
    else:
        return []
    return [p for p in found if io.basename(p) != LOCK_FILE and not io.is_temporary(io.basename(p))]


def _sweep_temporaries(folder: str) -> None:
    """Remove the atomic-write temporaries a killed run left directly in a local ``folder``."""
    if io.is_remote(folder) or not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        if io.is_temporary(name):
            os.remove(os.path.join(folder, name))


def _mark(folder: str, role: str) -> None:
    io.make_dirs(folder)
    io.write_json_atomic(io.join(folder, OWNER_MARKER), {"written_by": "voxsift", "role": role})


def _static_prefix(spec: str) -> tuple[str, bool]:
    """The folder part of a glob before its first wildcard, and whether the glob recurses."""
    cut = min((spec.find(c) for c in _GLOB_CHARS if c in spec), default=-1)
    if cut < 0:
        return spec, False
    return spec[:cut].rpartition("/")[0] or ".", "**" in spec


def _local(path: str) -> str:
    return path if io.is_remote(path) else os.path.realpath(path)


def _inside(path: str, folder: str) -> bool:
    path, folder = _local(path), _local(folder)
    if io.is_remote(path) != io.is_remote(folder):
        return False
    path, folder = posixpath.normpath(path), posixpath.normpath(folder)
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def check_output(output: str, inputs: Iterable[str]) -> None:
    """Refuse an output that is a file, that overlaps an input, or that is somebody else's folder.

    Raises OutputError naming the field (``output``) and the conflicting path.
    """
    if not io.is_remote(output) and os.path.lexists(output) and not os.path.isdir(output):
        raise OutputError(f"output: {output} exists and is not a folder; name a folder")
    for spec in inputs:
        prefix, recursive = _static_prefix(spec)
        if _inside(prefix, output):
            raise OutputError(
                f"output: {output} contains the input {spec!r}; voxsift clears its own folders "
                "there, so choose an output outside every input"
            )
        if recursive and _inside(output, prefix):
            raise OutputError(
                f"output: {output} lies inside {prefix}, which the input {spec!r} reads "
                "recursively; choose an output outside it"
            )
        if prefix != spec:
            for path in _matches(spec):
                if _inside(path, output):
                    raise OutputError(f"output: {output} contains the input file {path}")
    found = _entries(output)
    if found and not _owned(output):
        shown = ", ".join(io.basename(p) for p in found[:3])
        raise OutputError(
            f"output: {output} already holds files voxsift did not write ({shown}"
            f"{', ...' if len(found) > 3 else ''}); choose an empty or new folder, or an "
            "earlier voxsift run folder"
        )


def _matches(spec: str) -> list[str]:
    """What a glob matches; one curate will reject whole (no filesystem for it) matches nothing."""
    try:
        return io.match_inputs(spec)
    except (InputError, OSError):
        return []


def claim_output(output: str) -> None:
    """Mark the (checked) output root as voxsift's, and sweep what a killed run left in it."""
    _sweep_temporaries(output)
    if not _owned(output):
        _mark(output, "run")


def check_stage_folder(folder: str, stage: str) -> None:
    """Refuse a stage folder that holds files but not voxsift's marker: somebody else's files."""
    found = _entries(folder)
    if found and not _owned(folder):
        raise OutputError(
            f"{folder} holds files voxsift did not write ({io.basename(found[0])}, ...); "
            f"the {stage} stage will not delete them: move them, or choose another output"
        )


def clear_stage_folder(folder: str, stage: str) -> None:
    """Remove a stage's earlier output, then mark the folder as this stage's.

    Only a folder carrying voxsift's marker, or a missing or empty one, is removed; anything else
    was put there by somebody else and is refused, not deleted.
    """
    check_stage_folder(folder, stage)
    io.remove_tree(folder)
    _mark(folder, stage)


@contextlib.contextmanager
def run_lock(output: str) -> Iterator[None]:
    """Hold the output folder for one run; a second run on it is refused with its holder."""
    io.make_dirs(output)
    path = io.join(output, LOCK_FILE)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    if io.is_remote(output):
        yield from _remote_lock(path, holder)
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder_text = os.pread(descriptor, 4096, 0).decode(errors="replace")
            raise OutputError(_busy(output, holder_text)) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, _describe_holder(holder).encode(), 0)
        yield
    finally:
        os.close(descriptor)


def _remote_lock(path: str, holder: dict[str, Any]) -> Iterator[None]:
    if io.exists(path):
        raise OutputError(
            _busy(io.parent(path), io.read_text(path))
            + f" (on an object store: delete {path} if that run is no longer alive)"
        )
    io.write_bytes_atomic(path, _describe_holder(holder).encode())
    try:
        yield
    finally:
        io.delete_file(path)


def _describe_holder(holder: dict[str, Any]) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["since"]))
    return f"pid {holder['pid']} on {holder['host']}, since {since}"


def _busy(output: str, holder: str) -> str:
    return f"output: another voxsift run is using {output} ({holder.strip() or 'unknown'})"
