"""The shard contract: a sample's members and JSON, writing shards and index.json, reading them.

Every reader and writer of shards goes through here: the shard stage, the trainer, the exports,
``voxsift verify`` and the tests (whose shards come from :func:`make_sample` and
:func:`write_shard` too).

Tars are built with webdataset's own ``TarWriter`` with a fixed member ``mtime`` and sorted
members, so the same samples always give the same bytes. Each shard is assembled in memory (its
size is bounded by ``shard.max_bytes``), hashed, and written under a temporary name before the
rename, so a crash never leaves a truncated tar under a final name.
"""

from __future__ import annotations

import hashlib
import io as bytes_io
import json
import math
import os
import re
import stat
import tarfile
from collections.abc import Iterable
from typing import Any

import numpy as np
import webdataset

from voxsift import audio, io
from voxsift.schema import SAMPLE_RATE, TEXT_COLUMNS, training_text

INDEX = "index.json"
FORMAT = "voxsift-shards/1"
FIXED_MTIME = 0.0
SHARD_NAME = re.compile(r"(train|valid)-\d{6}\.tar")
MEMBER_NAME = re.compile(r"[0-9a-f]{24}\.(flac|json)")
"""The only member names voxsift writes: a hex key and one of two extensions, no folders.
Both are matched whole (``fullmatch``): ``$`` would let a trailing newline through."""
SHA256 = re.compile(r"[0-9a-f]{64}")


def shard_name(split: str, number: int) -> str:
    return f"{split}-{number:06d}.tar"


SAMPLE_FIELDS = (
    "source", "start", "end", "duration", "role", "language", "speaker", "text_status",
    "confidence", "word_confidences", "teacher", "label_wer", "enhancement", "snr_est_db",
    "snr_before_db", "snr_after_db", "speech_ratio", "loudness_lufs",
)  # fmt: skip
"""Segment columns a sample's JSON carries as they are, beside text, weight and provenance."""
SET_SAMPLE_FIELDS = ("detected_language",)
"""Columns a sample's JSON carries only where they are set (a multilingual teacher detected the
language), so the samples of runs that never fill them keep their exact bytes."""
SEGMENT_COLUMNS = ("key", "audio", "metadata", *TEXT_COLUMNS, *SAMPLE_FIELDS, *SET_SAMPLE_FIELDS)
"""What a sample is made of; the embeddings, the largest columns after the audio, stay behind."""


def encode_json(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, allow_nan=False).encode("utf-8")


def make_sample(row: dict[str, Any], chosen: dict[str, Any], config_hash: str) -> dict[str, Any]:
    """A segment row and its selection row → one webdataset sample (``__key__``, flac, json)."""
    fields = {name: row.get(name) for name in SAMPLE_FIELDS}
    fields.update({name: row[name] for name in SET_SAMPLE_FIELDS if row.get(name) is not None})
    fields.update(
        text=training_text(row) or "",
        weight=chosen["weight"],
        score=chosen["score"],
        rank=chosen["rank"],
        method=chosen["method"],
        expected_wer=chosen.get("expected_wer"),
        config_hash=config_hash,
        meta=json.loads(row["metadata"]),
    )
    return {"__key__": row["key"], "flac": row["audio"], "json": encode_json(fields)}


def tar_bytes(samples: Iterable[dict[str, Any]]) -> bytes:
    """Samples ``{"__key__", "flac": bytes, "json": bytes}`` → the bytes of one tar."""
    buffer = bytes_io.BytesIO()
    with webdataset.TarWriter(buffer, mtime=FIXED_MTIME, encoder=False) as writer:
        for sample in samples:
            writer.write(sample)
    return buffer.getvalue()


def write_shard(folder: str, name: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Write one shard atomically and return its index entry."""
    data = tar_bytes(samples)
    io.write_bytes_atomic(io.join(folder, name), data)
    seconds = sum(json.loads(s["json"])["duration"] for s in samples)
    return {
        "name": name,
        "split": name.split("-", 1)[0],
        "samples": len(samples),
        "seconds": round(seconds, 3),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def index_document(entries: list[dict[str, Any]], config_hash: str) -> dict[str, Any]:
    shards = sorted(entries, key=lambda e: e["name"])
    splits = {}
    for split in ("train", "valid"):
        mine = [e for e in shards if e["split"] == split]
        splits[split] = {
            "shards": len(mine),
            "samples": sum(e["samples"] for e in mine),
            "seconds": round(sum(e["seconds"] for e in mine), 3),
        }
    return {"format": FORMAT, "config_hash": config_hash, "splits": splits, "shards": shards}


def write_index(folder: str, entries: list[dict[str, Any]], config_hash: str) -> dict[str, Any]:
    """Write ``index.json`` for the shards ``entries`` describe, atomically; returns it."""
    document = index_document(entries, config_hash)
    io.write_json_atomic(io.join(folder, INDEX), document)
    return document


def split_urls(folder: str, index: dict[str, Any], split: str) -> list[str]:
    """The shard paths of one split (``train`` or ``valid``) of an index, in index order."""
    base = folder.rstrip("/")
    return [f"{base}/{e['name']}" for e in index["shards"] if e["split"] == split]


def decode_flac(data: bytes) -> np.ndarray:
    """A sample's ``flac`` member → mono float32 at SAMPLE_RATE, as training reads it.

    voxsift writes 16 kHz mono; audio from a shard that strays is mixed down and resampled.
    An empty, undecodable or non-finite clip raises :class:`voxsift.audio.AudioError` (a
    ValueError) with its reason.
    """
    return audio.load_mono_16k(data)[0]


def shard_urls(folder: str, split: str) -> list[str]:
    """The shard paths of one split, from the index."""
    index = read_index(folder)
    return [io.join(folder, e["name"]) for e in index["shards"] if e["split"] == split]


class ShardError(ValueError):
    """A shard folder that is not as voxsift writes it: a malformed ``index.json``, a shard name
    or file that could point elsewhere, a member voxsift would not write. One line that names the
    file and the offending entry."""


def shown(name: str, limit: int = 80) -> str:
    """A name from a shard folder as one printable line (escaped, cut when very long)."""
    if len(name) <= limit:
        return repr(name)
    return f"{name[:limit]!r}... ({len(name)} characters)"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), "a number")


def _file_problem(path: str, missing: str = "missing") -> str | None:
    """Why ``path`` is not a plain file of its folder (a link could point anywhere), or None."""
    if io.is_remote(path):
        return None if io.exists(path) else missing
    if os.path.islink(path):
        return f"a symlink (to {shown(os.readlink(path), 256)}), not a file voxsift wrote"
    if not os.path.lexists(path):
        return missing
    if not stat.S_ISREG(os.stat(path).st_mode):
        return "not a regular file"
    return None


def index_problems(index: Any) -> list[str]:
    """Every way a parsed ``index.json`` differs from the shape voxsift writes."""
    if not isinstance(index, dict):
        return [f"is {_kind(index)}, not a JSON object"]
    if index.get("format") != FORMAT:
        return [f"format {index.get('format')!r} is not {FORMAT!r}: not a voxsift shard index"]
    shards = index.get("shards")
    if not isinstance(shards, list):
        return [f"'shards' is {_kind(shards)}, not a list" if "shards" in index else "no 'shards'"]
    problems, seen = [], set()
    for number, entry in enumerate(shards):
        problems += [f"shards[{number}]: {p}" for p in _entry_problems(entry)]
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and name in seen:
            problems.append(f"shards[{number}]: {shown(name)} is listed twice")
        seen.add(name)
    return problems


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _seconds(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value >= 0


def _entry_problems(entry: Any) -> list[str]:
    if not isinstance(entry, dict):
        return [f"is {_kind(entry)}, not an object"]
    name = entry.get("name")
    if not isinstance(name, str):
        return [f"'name' is {_kind(name)}, not a string" if "name" in entry else "no 'name'"]
    if not SHARD_NAME.fullmatch(name):
        return [f"{shown(name)} is not a voxsift shard name (train-NNNNNN.tar, valid-NNNNNN.tar)"]
    problems = []
    if entry.get("split") != name.split("-", 1)[0]:
        problems.append(f"{name}: 'split' is {entry.get('split')!r}, the name says otherwise")
    counts = ("samples", "bytes")
    problems += [f"{name}: {f!r} is not a count" for f in counts if not _count(entry.get(f))]
    if not _seconds(entry.get("seconds")):
        problems.append(f"{name}: 'seconds' is not a non-negative number")
    if not isinstance(entry.get("sha256"), str) or not SHA256.fullmatch(entry["sha256"]):
        problems.append(f"{name}: 'sha256' is not 64 hex digits")
    return problems


def load_index(folder: str) -> tuple[dict[str, Any] | None, list[str]]:
    """``index.json`` of a shard folder and the problems that make it unusable (then None)."""
    path = io.join(folder, INDEX)
    problem = _file_problem(path)
    if problem:
        return None, [f"{path}: {problem}"]
    try:
        index = io.read_json(path)
    except (ValueError, RecursionError) as error:
        return None, [f"{path}: not valid JSON ({str(error).splitlines()[0][:200]})"]
    problems = [f"{path}: {p}" for p in index_problems(index)]
    return (None, problems) if problems else (index, [])


def read_index(folder: str) -> dict[str, Any]:
    """The ``index.json`` of a shard folder, checked by :func:`index_problems`.

    FileNotFoundError when there is none; ShardError (a ValueError) naming the first problem.
    """
    index, problems = load_index(folder)
    if index is not None:
        return index
    if problems == [f"{io.join(folder, INDEX)}: missing"]:
        raise FileNotFoundError(f"{io.join(folder, INDEX)} is missing")
    more = f" (and {len(problems) - 1} more: voxsift verify)" if len(problems) > 1 else ""
    raise ShardError(problems[0] + more)


def read_shard(folder: str, entry: dict[str, Any]) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """One shard listed in a checked index: key → (FLAC bytes, JSON fields), in tar order."""
    return checked_shard(folder, entry)[1]


def checked_shard(
    folder: str, entry: dict[str, Any]
) -> tuple[bytes, dict[str, tuple[bytes, dict[str, Any]]]]:
    """One shard listed in a checked index: its tar bytes and, by key in tar order, each
    sample's FLAC bytes and JSON fields.

    Refused with ShardError, naming the shard and the member: a shard file that is a link or not
    a regular file, bytes that differ from the index's sha256, a member that is anything but a
    regular file named ``<24 hex digits>.flac|json`` (a link, a folder, a device, ``./``, ``../``,
    an absolute or very long name, ``.pickle``), a member seen twice or apart from its sample, a
    sample without exactly one flac and one json, JSON that is not a sample's fields, a count
    that differs from the index. Audio is not decoded here (``verify`` does that).
    """
    path = io.join(folder, entry["name"])
    try:
        problem = _file_problem(path, missing="listed in the index but missing")
        if problem:
            raise ShardError(problem)
        data = io.read_bytes(path)
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ShardError("sha256 does not match the index (changed after writing)")
        samples = {key: _sample(key, members) for key, members in _read_members(data).items()}
        if len(samples) != entry["samples"]:
            raise ShardError(f"{len(samples)} samples, the index says {entry['samples']}")
    except ShardError as error:
        raise ShardError(f"{path}: {error}") from None
    return data, samples


def member_problem(member: tarfile.TarInfo) -> str | None:
    """Why a tar member is not one voxsift writes (a regular ``<key>.flac|json``), or None."""
    name = shown(member.name)
    if member.issym() or member.islnk():
        link = "symlink" if member.issym() else "hardlink"
        return f"member {name} is a {link} (to {shown(member.linkname)}), not a regular file"
    if not member.isfile():
        kind = "folder" if member.isdir() else "device or FIFO" if member.isdev() else "special"
        return f"member {name} is a {kind}, not a regular file"
    if not MEMBER_NAME.fullmatch(member.name):
        return f"member {name} is not named <24 hex digits>.flac or .json"
    return None


def _read_members(data: bytes) -> dict[str, dict[str, bytes]]:
    """A tar's members grouped by key, refusing any member voxsift would not write."""
    samples: dict[str, dict[str, bytes]] = {}
    last = None
    try:
        with tarfile.open(fileobj=bytes_io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                problem = member_problem(member)
                if problem:
                    raise ShardError(problem)
                key, extension = member.name.split(".")
                if extension in samples.get(key, {}):
                    raise ShardError(f"member {shown(member.name)} appears twice")
                if key in samples and key != last:
                    raise ShardError(f"member {shown(member.name)} is apart from its sample")
                samples.setdefault(key, {})[extension] = archive.extractfile(member).read()
                last = key
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ShardError(f"not a readable tar ({error})") from None
    return samples


def _sample(key: str, members: dict[str, bytes]) -> tuple[bytes, dict[str, Any]]:
    if set(members) != {"flac", "json"}:
        raise ShardError(f"sample {key}: members {sorted(members)} instead of flac and json")
    try:
        fields = json.loads(members["json"])
    except (ValueError, RecursionError):
        raise ShardError(f"sample {key}: its json member is not valid JSON") from None
    problem = _fields_problem(fields)
    if problem:
        raise ShardError(f"sample {key}: {problem}")
    return members["flac"], fields


def _fields_problem(fields: Any) -> str | None:
    if not isinstance(fields, dict):
        return f"its json member is {_kind(fields)}, not an object"
    if not _seconds(fields.get("duration")):
        return "'duration' is not a non-negative number"
    if not isinstance(fields.get("text"), str | None):
        return "'text' is not a string"
    return None


def verify(folder: str) -> list[str]:
    """Every problem found in a shard folder; an empty list means it is sound."""
    index, problems = load_index(folder)
    if index is None:
        return problems
    listed = {e["name"] for e in index["shards"]}
    on_disk = {io.basename(p) for p, _ in io.match(io.join(folder, "*.tar"))}
    problems += [f"{name}: on disk but not in the index" for name in sorted(on_disk - listed)]
    owners: dict[str, str] = {}
    for entry in index["shards"]:
        problems += _verify_shard(folder, entry, owners)
    return problems


def repeated_keys(owners: dict[str, str], name: str, keys: Iterable[str]) -> list[str]:
    """Keys of shard ``name`` that an earlier shard already holds (``owners``: key → shard)."""
    problems = [f"sample {k} is also in {owners[k]}" for k in keys if owners.get(k, name) != name]
    owners.update((k, owners.get(k, name)) for k in keys)
    return problems


def _verify_shard(folder: str, entry: dict[str, Any], owners: dict[str, str]) -> list[str]:
    name = entry["name"]
    try:
        samples = read_shard(folder, entry)
    except ShardError as error:
        return [str(error)]
    problems = [f"{name}: {p}" for p in repeated_keys(owners, name, samples)]
    for key, (flac, fields) in samples.items():
        problems += [f"{name}:{key}: {p}" for p in _verify_audio(flac, fields)]
    return problems


def _verify_audio(flac: bytes, fields: dict[str, Any]) -> list[str]:
    try:
        samples = audio.decode_flac(flac)
    except (ValueError, RuntimeError) as error:
        return [f"does not decode: {error}"]
    if samples.ndim != 1:
        return ["audio is not mono"]
    if abs(len(samples) / SAMPLE_RATE - fields["duration"]) > 0.01:
        return ["audio length does not match its duration"]
    return []
