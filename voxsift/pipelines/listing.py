"""What the curate stage reads, described so that any change to it changes the fingerprint.

``--resume`` skips curate when its fingerprint matches, so the fingerprint must change whenever
an input's content can have changed:

- a manifest counts by the sha256 of its bytes (an edited transcript changes it, even one of the
  same length), plus the size and modification time of every audio file its lines name;
- an audio file a glob matches counts by size and modification time, and its sidecar ``.txt``
  by the transcript curate reads from it.

Audio is not hashed: that would read the whole corpus on every run. Size plus mtime (to the
nanosecond locally, as the object store reports it remotely) changes when a file is rewritten by
any ordinary tool; a tool that rewrites a file and then restores its mtime on purpose defeats it.
Every read goes through the guarded reader curate uses, so anything that is not a regular file
counts by the reason curate will reject it with, and is never read (a FIFO or a link to
``/dev/zero`` would block or never end).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from voxsift import io
from voxsift.config import ConfigError, RunConfig
from voxsift.errors import InputError
from voxsift.transforms.ingest import (
    NOT_AUDIO_SUFFIXES,
    is_manifest,
    manifest_lines,
    parse_manifest_line,
    read_sidecar,
)


def file_state(path: str) -> list[Any]:
    """[size, mtime] of a file, or the reject reason it would get when it cannot be read."""
    try:
        size = io.input_size(path)
        if io.is_remote(path):
            return [size, io.match_metadata(path)[0][2]]
        return [size, os.stat(path).st_mtime_ns]
    except (InputError, OSError, IndexError) as error:
        return [getattr(error, "reason", "unreadable")]


def content_hash(path: str) -> str:
    """sha256 of a file's bytes, read through the guarded reader (never a FIFO or a device)."""
    with io.open_input(path) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _manifest(spec: str, role: str, config: RunConfig) -> list[Any]:
    audio = []
    try:
        for number, raw in manifest_lines(spec, config.ingest):
            try:
                item = parse_manifest_line(raw, role, f"{spec}:{number}", spec, config.ingest)
            except InputError:
                continue
            audio.append([item.source, *file_state(item.source)])
        return [spec, content_hash(spec), audio]
    except (InputError, OSError) as error:
        return [spec, getattr(error, "reason", "unreadable")]


def _sidecar_text(path: str, config: RunConfig) -> str | None:
    try:
        return read_sidecar(path, config.ingest)
    except InputError as error:
        return f"rejected: {error.reason}"


def _glob(spec: str, config: RunConfig) -> list[Any]:
    try:
        paths = io.match_inputs(spec)
    except (InputError, OSError) as error:
        return [spec, getattr(error, "reason", "unreadable")]
    audio = [p for p in paths if not p.lower().endswith(NOT_AUDIO_SUFFIXES)]
    return [spec, [[p, *file_state(p), _sidecar_text(p, config)] for p in audio]]


def input_listing(config: RunConfig) -> list[Any]:
    """One JSON-able entry per ``input`` and ``target`` spec, for the curate fingerprint."""
    specs = [("pool", s) for s in config.input] + [("target", s) for s in config.target]
    return [
        _manifest(spec, role, config) if is_manifest(spec) else _glob(spec, config)
        for role, spec in specs
    ]


_NOTHING = ("missing_manifest", "missing_file")
"""Reasons meaning that a manifest named in the config is not there at all."""


def require_matches(config: RunConfig, listing: list[Any]) -> None:
    """Refuse, before any work, a config whose ``input`` or ``target`` entry names no file: a
    manifest that does not exist, or a glob that matches no audio file. (A manifest that is there
    but cannot be read, a FIFO for one, is a reject row of the run like any bad file.)"""
    fields = [f"input[{i}]" for i in range(len(config.input))]
    fields += [f"target[{i}]" for i in range(len(config.target))]
    problems = []
    for field, (spec, found, *_) in zip(fields, listing, strict=True):
        if is_manifest(spec) and found in _NOTHING:
            problems.append(f"{field}: the manifest {spec} does not exist")
        elif not is_manifest(spec) and found == []:
            problems.append(f"{field}: {spec!r} matches no audio file")
    if problems:
        raise ConfigError("; ".join(problems))
