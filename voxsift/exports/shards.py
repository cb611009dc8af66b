"""Read a voxsift shard folder sample by sample, and write sample audio as files.

Exports start from the shards (not the Parquet): they are what training consumes, carry the
final text and weight, and are the one output whose layout is stable across versions. Tars are
opened through FileSystems and unpacked with webdataset's own tar iterators, so an export of a run
on ``gs://`` reads the same bytes a trainer would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from webdataset.tariterators import group_by_keys, tar_file_expander

from voxsift import io, shardio


class ExportError(RuntimeError):
    """An export that cannot be made; the message says what to install or fix."""


@dataclass(frozen=True)
class ShardSample:
    split: str
    key: str
    flac: bytes
    fields: dict[str, Any]


def read_index(shards: str) -> dict[str, Any]:
    path = io.join(shards, shardio.INDEX)
    if not io.exists(path):
        raise ExportError(f"{path} is missing: run the shard stage first (voxsift run or shard)")
    return io.read_json(path)


def samples_in(url: str, stream: BinaryIO, split: str) -> Iterator[ShardSample]:
    """The samples of one open tar, grouped by webdataset's own iterators."""
    for sample in group_by_keys(tar_file_expander([{"url": url, "stream": stream}])):
        if "flac" not in sample or "json" not in sample:
            raise ExportError(f"{url}: sample {sample['__key__']} lacks flac or json")
        yield ShardSample(split, sample["__key__"], sample["flac"], json.loads(sample["json"]))


def read_samples(shards: str) -> Iterator[ShardSample]:
    """Every sample of every shard listed in the index, in index order."""
    for entry in read_index(shards)["shards"]:
        url = io.join(shards, entry["name"])
        with io.open_read(url) as stream:
            yield from samples_in(url, stream, entry["split"])


def absolute(path: str) -> str:
    """A URI stays as it is; a local path becomes absolute, so a manifest works from anywhere."""
    return path if io.is_remote(path) else os.path.abspath(path)


def write_audio(dest: str, sample: ShardSample) -> str:
    """``DEST/audio/KEY.flac`` with the shard's FLAC bytes unchanged; returns its absolute path."""
    path = io.join(dest, "audio", f"{sample.key}.flac")
    io.write_bytes_atomic(path, sample.flac)
    return absolute(path)
