"""Expand the configured inputs (JSONL manifests and audio globs) into one item per audio file.

Runs on workers, not the driver: a manifest is streamed line by line, so a manifest of millions
of lines never sits in memory. Every line becomes either an :class:`InputItem` or a reject row
with the manifest line as its source; nothing is skipped silently except blank lines. The same
audio listed twice is curated once: the target set's copy wins, then the earliest line.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from voxsift import io
from voxsift.config import IngestSettings
from voxsift.errors import InputError
from voxsift.schema import Reject

STAGE = "curate"
REJECTS = "rejects"
MANIFEST_SUFFIXES = (".jsonl", ".json", ".ndjson")
NOT_AUDIO_SUFFIXES = (".txt", *MANIFEST_SUFFIXES)
"""Files a glob may also match that are sidecars or manifests, not audio inputs."""
_RESERVED = ("audio", "text", "language", "speaker")


@dataclass(frozen=True)
class InputItem:
    """One audio file to curate, with what its manifest line or sidecar says about it."""

    role: str
    source: str
    origin: str
    text: str | None = None
    language: str | None = None
    speaker: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    look_for_sidecar: bool = False


def is_manifest(spec: str) -> bool:
    return spec.lower().endswith(MANIFEST_SUFFIXES)


def _decode_entry(raw: bytes) -> dict[str, Any]:
    try:
        entry = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InputError("manifest_not_utf8", f"line is not UTF-8: {error}") from None
    except json.JSONDecodeError as error:
        raise InputError("malformed_manifest_line", f"not a JSON object: {error}") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("audio"), str) or not entry["audio"]:
        raise InputError("malformed_manifest_line", "a line needs an 'audio' path")
    for name in ("text", "language", "speaker"):
        if entry.get(name) is not None and not isinstance(entry[name], str):
            raise InputError("malformed_manifest_line", f"'{name}' must be a string")
    return entry


def check_text(text: str | None, settings: IngestSettings) -> None:
    if text is not None and len(text) > settings.max_text_chars:
        raise InputError(
            "transcript_too_long",
            f"transcript of {len(text)} characters exceeds ingest.max_text_chars="
            f"{settings.max_text_chars}",
        )


def check_path(path: str, settings: IngestSettings) -> None:
    if settings.roots and not io.is_within(path, settings.roots):
        raise InputError("path_outside_roots", f"{path} resolves outside ingest.roots")


def parse_manifest_line(
    raw: bytes, role: str, origin: str, manifest: str, settings: IngestSettings
) -> InputItem:
    """One manifest line to an item; raises InputError when the line cannot be used."""
    entry = _decode_entry(raw)
    source = io.resolve(entry["audio"], io.parent(manifest))
    check_path(source, settings)
    check_text(entry.get("text"), settings)
    return InputItem(
        role=role,
        source=source,
        origin=origin,
        text=entry.get("text"),
        language=entry.get("language"),
        speaker=entry.get("speaker"),
        metadata={k: v for k, v in entry.items() if k not in _RESERVED},
    )


class ExpandInputs(beam.DoFn):
    """(role, spec) → InputItem per audio file, and reject rows on the ``rejects`` output."""

    def __init__(self, settings: IngestSettings):
        self._settings = settings
        self._inputs = Metrics.counter(f"voxsift.{STAGE}", "inputs")

    def process(self, element: tuple[str, str]) -> Iterator[Any]:
        role, spec = element
        items = self._manifest(role, spec) if is_manifest(spec) else self._glob(role, spec)
        for item in items:
            self._inputs.inc()
            if isinstance(item, Reject):
                yield beam.pvalue.TaggedOutput(REJECTS, item)
            else:
                yield item

    def _manifest(self, role: str, manifest: str) -> Iterator[InputItem | Reject]:
        if not io.exists(manifest):
            yield Reject(STAGE, role, manifest, "missing_manifest", "the manifest does not exist")
            return
        for number, raw in enumerate(io.iter_lines(manifest), start=1):
            if not raw.strip():
                continue
            origin = f"{manifest}:{number}"
            try:
                yield parse_manifest_line(raw, role, origin, manifest, self._settings)
            except InputError as error:
                yield Reject(STAGE, role, origin, error.reason, str(error))

    def _glob(self, role: str, pattern: str) -> Iterator[InputItem | Reject]:
        paths = [p for p, _ in io.match(pattern) if not p.lower().endswith(NOT_AUDIO_SUFFIXES)]
        if not paths:
            yield Reject(STAGE, role, pattern, "no_match", "the glob matches no audio file")
        for path in paths:
            try:
                check_path(path, self._settings)
            except InputError as error:
                yield Reject(STAGE, role, path, error.reason, str(error))
                continue
            yield InputItem(role=role, source=path, origin=path, look_for_sidecar=True)


def keep_first_listing(element: tuple[str, Iterable[InputItem]]) -> Iterator[Any]:
    """Of the items naming one audio file, keep the target's, else the earliest line's."""
    _, items = element
    first, *others = sorted(items, key=lambda item: (item.role != "target", item.origin))
    yield first
    for item in others:
        message = f"{item.source} is already listed at {first.origin}"
        yield beam.pvalue.TaggedOutput(
            REJECTS, Reject(STAGE, item.role, item.origin, "duplicate_input", message)
        )


def read_sidecar(source: str) -> str | None:
    """The transcript in ``name.txt`` beside ``name.wav``, if there is one (raises if not UTF-8)."""
    sidecar = posixpath.splitext(source)[0] + ".txt"
    return io.read_text(sidecar).strip() if io.exists(sidecar) else None
