"""Where the shards are: an index.json folder (local or remote) or a pattern of tar URLs.

The trainer takes any folder of voxsift shards, so it only needs the index's shard names and
counts, or a brace/glob pattern when there is no index. Remote folders are read through Beam's
FileSystems (gs://, s3://) or HTTP. webdataset streams the tars; for every scheme but local files,
pipes and HTTP its opener is pointed at FileSystems too, so the trainer reads exactly the stores
(and credentials) the pipelines write to, instead of shelling out to ``gsutil``.
"""

from __future__ import annotations

import importlib
import json
import urllib.request
from dataclasses import dataclass
from typing import BinaryIO

from braceexpand import braceexpand

from voxsift import io, shardio


def open_with_filesystems(url: str, mode: str = "rb", bufsize: int = 8192, **_: object) -> BinaryIO:
    """webdataset's opener signature over :func:`voxsift.io.open_read` (read-only)."""
    if mode != "rb":
        raise ValueError(f"shards are opened for reading only, not {mode!r}: {url}")
    return io.open_read(url)


# ``webdataset.gopen`` is shadowed by the function of that name; the module holds the table.
_OPENERS = importlib.import_module("webdataset.gopen").gopen_schemes
for _scheme in ("gs", "s3", "__default__"):
    _OPENERS[_scheme] = open_with_filesystems


@dataclass(frozen=True)
class ShardSet:
    """Train and valid shard URLs, with the index's train totals when an index was read."""

    train: list[str]
    valid: list[str]
    train_samples: int | None = None
    train_seconds: float | None = None


def read_text(path: str) -> str:
    """A small text file: http(s) directly, anything else through voxsift.io (FileSystems)."""
    if path.startswith(("http://", "https://")):
        with urllib.request.urlopen(path) as response:  # noqa: S310 - a user-given shard URL
            return response.read().decode("utf-8")
    return io.read_text(path)


def resolve_shards(spec: str) -> ShardSet:
    """Shard URLs for a folder (its index.json), an index.json path, or a brace/glob pattern.

    With a pattern, tars whose name starts with ``valid`` are the evaluation split.
    """
    if spec.endswith(".tar") or any(c in spec for c in "{*?["):
        return _from_pattern(spec)
    folder = spec.removesuffix(shardio.INDEX).rstrip("/")
    index = _read_index(folder)
    train = [e for e in index["shards"] if e["split"] == "train"]
    if not train:
        raise ValueError(f"{folder}/{shardio.INDEX} lists no train shards")
    return ShardSet(
        shardio.split_urls(folder, index, "train"),
        shardio.split_urls(folder, index, "valid"),
        sum(e["samples"] for e in train),
        sum(float(e["seconds"]) for e in train),
    )


def _read_index(folder: str) -> dict:
    """The folder's index through shardio (FileSystems), or over HTTP checked by shardio too."""
    path = f"{folder}/{shardio.INDEX}"
    if not path.startswith(("http://", "https://")):
        if not io.exists(path):
            raise FileNotFoundError(_no_index(folder))
        return shardio.read_index(folder)
    try:
        index = json.loads(read_text(path))
    except FileNotFoundError as error:
        raise FileNotFoundError(_no_index(folder)) from error
    problems = shardio.index_problems(index)
    if problems:
        raise shardio.ShardError(f"{path}: {problems[0]}")
    return index


def _no_index(folder: str) -> str:
    return (
        f"no index.json in {folder!r}: pass a shard folder written by voxsift, or a pattern "
        f"such as '{folder}/train-{{000000..000009}}.tar'"
    )


def _from_pattern(spec: str) -> ShardSet:
    urls: list[str] = []
    for expanded in braceexpand(spec):
        if any(c in expanded for c in "*?["):
            urls.extend(sorted(_glob(expanded)))
        else:
            urls.append(expanded)
    valid = [u for u in urls if u.rsplit("/", 1)[-1].startswith("valid")]
    train = [u for u in urls if u not in valid]
    if not train:
        raise ValueError(f"shard pattern {spec!r} matches no train shards")
    return ShardSet(train, valid)


def _glob(pattern: str) -> list[str]:
    return [path for path, _ in io.match(pattern)]
