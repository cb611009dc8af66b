"""WebDataset shard files: writing one shard, the index, and verifying a shard folder.

Tars are built with webdataset's own ``TarWriter`` with a fixed member ``mtime`` and sorted
members, so the same samples always give the same bytes. Each shard is assembled in memory (its
size is bounded by ``shard.max_bytes``), hashed, and written under a temporary name before the
rename, so a crash never leaves a truncated tar under a final name.
"""

from __future__ import annotations

import hashlib
import io as bytes_io
import json
import re
import tarfile
from collections.abc import Iterable
from typing import Any

import webdataset

from voxsift import audio, io
from voxsift.schema import SAMPLE_RATE

INDEX = "index.json"
FORMAT = "voxsift-shards/1"
FIXED_MTIME = 0.0
SHARD_NAME = re.compile(r"^(train|valid)-\d{6}\.tar$")
MEMBER_NAME = re.compile(r"^[0-9a-f]{24}\.(flac|json)$")
"""The only member names voxsift writes: a hex key and one of two extensions, no folders."""


def shard_name(split: str, number: int) -> str:
    return f"{split}-{number:06d}.tar"


def encode_json(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, allow_nan=False).encode("utf-8")


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


def shard_urls(folder: str, split: str) -> list[str]:
    """The shard paths of one split, from the index."""
    index = io.read_json(io.join(folder, INDEX))
    return [io.join(folder, e["name"]) for e in index["shards"] if e["split"] == split]


def verify(folder: str) -> list[str]:
    """Every problem found in a shard folder; an empty list means it is sound."""
    index_path = io.join(folder, INDEX)
    if not io.exists(index_path):
        return [f"{index_path}: missing"]
    index = io.read_json(index_path)
    problems = []
    listed = {e["name"] for e in index["shards"]}
    on_disk = {io.basename(p) for p, _ in io.match(io.join(folder, "*.tar"))}
    problems += [f"{name}: on disk but not in the index" for name in sorted(on_disk - listed)]
    for entry in index["shards"]:
        problems += _verify_shard(folder, entry)
    return problems


def _verify_shard(folder: str, entry: dict[str, Any]) -> list[str]:
    name = entry["name"]
    if not SHARD_NAME.match(name):
        return [f"{name}: not a voxsift shard name"]
    path = io.join(folder, name)
    if not io.exists(path):
        return [f"{name}: listed in the index but missing"]
    data = io.read_bytes(path)
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        return [f"{name}: sha256 does not match the index (changed after writing)"]
    try:
        samples = _read_members(data)
    except (tarfile.TarError, ValueError) as error:
        return [f"{name}: {error}"]
    problems = [] if len(samples) == entry["samples"] else [f"{name}: sample count differs"]
    for key, members in sorted(samples.items()):
        problems += [f"{name}:{key}: {p}" for p in _verify_sample(members)]
    return problems


def _read_members(data: bytes) -> dict[str, dict[str, bytes]]:
    """Group a tar's members by key, refusing any member name voxsift would not write."""
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(fileobj=bytes_io.BytesIO(data), mode="r:") as archive:
        for member in archive.getmembers():
            if not member.isfile() or not MEMBER_NAME.match(member.name):
                raise ValueError(f"unsafe or unexpected member {member.name!r}")
            key, extension = member.name.split(".")
            samples.setdefault(key, {})[extension] = archive.extractfile(member).read()
    return samples


def _verify_sample(members: dict[str, bytes]) -> list[str]:
    if set(members) != {"flac", "json"}:
        return [f"members {sorted(members)} instead of flac and json"]
    try:
        fields = json.loads(members["json"])
        samples = audio.decode_flac(members["flac"])
    except (ValueError, RuntimeError) as error:
        return [f"does not decode: {error}"]
    if samples.ndim != 1:
        return ["audio is not mono"]
    if abs(len(samples) / SAMPLE_RATE - fields.get("duration", -1)) > 0.01:
        return ["audio length does not match its duration"]
    return []
