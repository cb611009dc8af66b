"""Expand the configured inputs (JSONL manifests and audio globs) into one item per audio file.

Runs on workers, not the driver: a manifest is streamed line by line, so a manifest of millions
of lines never sits in memory. Every line becomes either an :class:`InputItem` or a reject row
with the manifest line as its source; nothing is skipped silently except blank lines. The same
audio listed twice is curated once: the target set's copy wins, then the earliest listing (the
first input spec in the config, then the lowest line number).

Nothing a line holds can abort the run or a later stage: a line that is too long, not UTF-8,
not JSON, nested past ``MAX_DEPTH``, holding NaN or Infinity, a lone surrogate or a duplicate
key, or naming a URI no filesystem serves, is a reject row. What is accepted is strict JSON that
every later stage can write again. Every path read (manifest, audio, sidecar) obeys
``ingest.roots`` and is read through :mod:`voxsift.io`'s guarded readers: regular files only,
with a ceiling on each read.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from voxsift import io
from voxsift.errors import InputError
from voxsift.schema import Reject
from voxsift.transforms.settings import IngestSettings

STAGE = "curate"
REJECTS = "rejects"
MANIFEST_SUFFIXES = (".jsonl", ".json", ".ndjson")
NOT_AUDIO_SUFFIXES = (".txt", *MANIFEST_SUFFIXES)
"""Files a glob may also match that are sidecars or manifests, not audio inputs."""
_RESERVED = ("audio", "text", "language", "speaker")
MAX_DEPTH = 32
"""How deep a manifest line's values may nest; deeper lines are refused, so no later reader of
the metadata (in a Beam worker, a shard reader) meets JSON past its recursion limit."""
_FILE_URI = re.compile(r"^file://", re.IGNORECASE)


@dataclass(frozen=True)
class InputItem:
    """One audio file to curate, with what its manifest line or sidecar says about it.

    ``position`` is where it was listed: (index of its spec in the config's ``input`` or
    ``target``, line number in that manifest; 0 for a glob's match).
    """

    role: str
    source: str
    origin: str
    text: str | None = None
    language: str | None = None
    speaker: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    look_for_sidecar: bool = False
    position: tuple[int, int] = (0, 0)


def is_manifest(spec: str) -> bool:
    return spec.lower().endswith(MANIFEST_SUFFIXES)


def printable(text: str) -> str:
    """``text`` safe for any UTF-8 writer: undecodable bytes of a file name (surrogates) and
    lone surrogates become backslash escapes."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _label(key: str) -> str:
    """A key as it may appear in an error message: escaped, and cut if long."""
    quoted = json.dumps(key)
    return quoted if len(quoted) <= 42 else quoted[:40] + '…"'


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    entry = dict(pairs)
    if len(entry) < len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise InputError("malformed_manifest_line", f"key {_label(twice)} appears twice")
    return entry


def _require_utf8(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = printable(error.object[error.start : error.end])
        raise InputError(
            "manifest_not_utf8", f"{where} holds a lone surrogate ({bad}), which UTF-8 cannot hold"
        ) from None


def _check_values(entry: dict[str, Any]) -> None:
    """Refuse what strict JSON written later could not hold: NaN and Infinity (also a number
    beyond float range, which parses as infinity), lone surrogates, nesting past MAX_DEPTH."""
    stack: list[tuple[Any, int, str]] = [(entry, 0, "")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            _require_utf8(value, f"field {where}")
        elif isinstance(value, float) and not math.isfinite(value):
            raise InputError(
                "non_finite_metadata",
                f"field {where} is {value} (NaN, Infinity or a number beyond float range), "
                "which JSON cannot carry; write null or a string",
            )
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise InputError("malformed_manifest_line", f"nests deeper than {MAX_DEPTH} levels")
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            for key, inner in pairs:
                if isinstance(key, int):
                    name = f"{where}[{key}]"
                else:
                    _require_utf8(key, f"a key in {where or 'the line'}")
                    name = f"{where}.{_label(key)}" if where else _label(key)
                stack.append((inner, depth + 1, name))


def _parse_json(raw: bytes, settings: IngestSettings) -> Any:
    if len(raw) > settings.max_line_bytes:
        raise InputError(
            "manifest_line_too_long",
            f"the line is longer than ingest.max_line_bytes={settings.max_line_bytes}",
        )
    try:
        line = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise InputError("manifest_not_utf8", f"line is not UTF-8: {error}") from None
    try:
        return json.loads(line, object_pairs_hook=_unique_keys)
    except InputError:
        raise
    except json.JSONDecodeError as error:
        raise InputError("malformed_manifest_line", f"not a JSON object: {error}") from None
    except RecursionError:
        raise InputError("malformed_manifest_line", "nests too deeply to parse") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise InputError("malformed_manifest_line", f"not usable JSON: {error}") from None


def _decode_entry(raw: bytes, settings: IngestSettings) -> dict[str, Any]:
    entry = _parse_json(raw, settings)
    if not isinstance(entry, dict):
        raise InputError("malformed_manifest_line", "a line must be a JSON object")
    audio = entry.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        got = "nothing" if audio is None else f"{type(audio).__name__} {_label(str(audio))}"
        raise InputError("malformed_manifest_line", f"a line needs an 'audio' path (got {got})")
    for name in ("text", "language", "speaker"):
        if entry.get(name) is not None and not isinstance(entry[name], str):
            raise InputError("malformed_manifest_line", f"'{name}' must be a string")
    _check_values(entry)
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


def audio_source(value: str, manifest: str) -> str:
    """The path an ``audio`` value names. A ``file://`` URI is its local path (``file:///a%20b``
    is ``/a b``); a relative path resolves against the manifest's folder; any other URI needs a
    filesystem registered with Beam (``unsupported_uri`` otherwise)."""
    if _FILE_URI.match(value):
        parts = urllib.parse.urlsplit(value)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise InputError("unsupported_uri", f"only local file:///path URIs are read: {value}")
        source = posixpath.normpath(urllib.parse.unquote(parts.path))
    else:
        source = io.resolve(value, io.parent(manifest))
    if not io.has_filesystem(source):
        scheme = source.split("://", 1)[0]
        raise InputError("unsupported_uri", f"no filesystem for {scheme}:// is available: {value}")
    if "\x00" in source:
        raise InputError("malformed_manifest_line", "the 'audio' path holds a NUL character")
    return source


def parse_manifest_line(
    raw: bytes,
    role: str,
    origin: str,
    manifest: str,
    settings: IngestSettings,
    position: tuple[int, int] = (0, 0),
) -> InputItem:
    """One manifest line to an item; raises InputError when the line cannot be used."""
    entry = _decode_entry(raw, settings)
    source = audio_source(entry["audio"], manifest)
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
        position=position,
    )


def manifest_lines(manifest: str, settings: IngestSettings) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) of each non-blank line, a line longer than
    ``ingest.max_line_bytes`` cut just past it; raises InputError when the manifest is missing,
    outside the roots, or no regular file (a FIFO, /dev/zero, a directory)."""
    if not io.is_present(manifest):
        raise InputError("missing_manifest", "the manifest does not exist")
    check_path(manifest, settings)
    io.input_size(manifest)
    lines = io.iter_input_lines(manifest, settings.max_line_bytes)
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            yield number, raw


class ExpandInputs(beam.DoFn):
    """(role, spec, index in the config) → InputItem per audio file, and reject rows on the
    ``rejects`` output."""

    def __init__(self, settings: IngestSettings):
        self._settings = settings
        self._inputs = Metrics.counter(f"voxsift.{STAGE}", "inputs")

    def process(self, element: tuple[str, str, int]) -> Iterator[Any]:
        role, spec, index = element
        expand = self._manifest if is_manifest(spec) else self._glob
        for item in expand(role, spec, index):
            self._inputs.inc()
            if isinstance(item, Reject):
                yield beam.pvalue.TaggedOutput(REJECTS, item)
            else:
                yield item

    def _manifest(self, role: str, manifest: str, index: int) -> Iterator[InputItem | Reject]:
        number = 0
        try:
            for number, raw in manifest_lines(manifest, self._settings):
                origin = f"{manifest}:{number}"
                try:
                    yield parse_manifest_line(
                        raw, role, origin, manifest, self._settings, (index, number)
                    )
                except InputError as error:
                    yield Reject(STAGE, role, origin, error.reason, str(error))
        except InputError as error:
            yield Reject(STAGE, role, manifest, error.reason, f"the manifest: {error}")
        except OSError as error:
            message = f"reading the manifest failed after line {number}: {error}"
            yield Reject(STAGE, role, manifest, "unreadable", message)

    def _glob(self, role: str, pattern: str, index: int) -> Iterator[InputItem | Reject]:
        try:
            matched = io.match_inputs(pattern)
        except (InputError, OSError) as error:
            yield Reject(STAGE, role, pattern, getattr(error, "reason", "unreadable"), str(error))
            return
        paths = [p for p in matched if not p.lower().endswith(NOT_AUDIO_SUFFIXES)]
        if not paths:
            yield Reject(STAGE, role, pattern, "no_match", "the glob matches no audio file")
        for path in paths:
            try:
                _require_utf8_name(path)
                check_path(path, self._settings)
            except InputError as error:
                yield Reject(STAGE, role, printable(path), error.reason, str(error))
                continue
            yield InputItem(
                role=role, source=path, origin=path, look_for_sidecar=True, position=(index, 0)
            )


def _require_utf8_name(path: str) -> None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            "path_not_utf8", f"the file name is not UTF-8: {printable(path)}; rename it"
        ) from None


def keep_first_listing(element: tuple[str, Iterable[InputItem]]) -> Iterator[Any]:
    """Of the items naming one audio file, keep the target's, else the earliest listing's: the
    first spec in the config, then the lowest line number (compared as numbers)."""
    _, items = element
    ordered = sorted(items, key=lambda item: (item.role != "target", item.position, item.origin))
    first, *others = ordered
    yield first
    for item in others:
        message = f"{item.source} is already listed at {first.origin}"
        yield beam.pvalue.TaggedOutput(
            REJECTS, Reject(STAGE, item.role, item.origin, "duplicate_input", message)
        )


def read_sidecar(source: str, settings: IngestSettings) -> str | None:
    """The transcript in ``name.txt`` beside ``name.wav``, stripped, if there is one.

    The sidecar obeys ``ingest.roots``, must be a regular file of at most
    ``ingest.max_sidecar_bytes`` and UTF-8 (a leading BOM is dropped); else InputError.
    """
    sidecar = posixpath.splitext(source)[0] + ".txt"
    try:
        if not io.is_present(sidecar):
            return None
        check_path(sidecar, settings)
        data = io.read_input(sidecar, settings.max_sidecar_bytes)
    except InputError as error:
        raise InputError(error.reason, f"sidecar transcript: {error}") from None
    except OSError as error:
        raise InputError("unreadable", f"sidecar transcript {sidecar}: {error}") from None
    if len(data) > settings.max_sidecar_bytes:
        raise InputError(
            "transcript_too_long",
            f"sidecar transcript {sidecar} is larger than ingest.max_sidecar_bytes="
            f"{settings.max_sidecar_bytes}",
        )
    try:
        return data.decode("utf-8").removeprefix("\ufeff").strip()
    except UnicodeDecodeError as error:
        raise InputError("transcript_not_utf8", f"sidecar transcript: {error}") from None
