"""The whole chain with input, target and output on a non-local filesystem registered with Beam.

``memfs://`` is an object store held in a dict, with the semantics of ``gs://`` that matter: no
directories (``mkdirs`` does nothing, a folder "exists" only through the objects under it, and
deleting a folder means deleting ``folder/`` recursively), objects appear whole when their writer
closes. Any code path that calls ``open()`` or ``os`` on a user path, or assumes directories,
fails here the way it would on Dataflow. The pipelines themselves are not mocked.
"""

from __future__ import annotations

import hashlib
import io as bytes_io
import json
import threading
import time
from pathlib import Path

import pytest
from apache_beam.io.filesystem import (
    BeamIOError,
    CompressedFile,
    CompressionTypes,
    FileMetadata,
    FileSystem,
)

from conftest import IN_PROCESS, corpus_config
from voxsift import io, shardio
from voxsift.config import load_config
from voxsift.exports import export
from voxsift.exports.shards import read_samples
from voxsift.pipelines import run
from voxsift.report import write_report
from voxsift.trainers.loop import train
from voxsift.trainers.settings import TrainSettings

PREFIX = "memfs://"


class _Object(bytes_io.BytesIO):
    """A write handle: the object becomes visible, whole, when the handle closes."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def close(self) -> None:
        if not self.closed:
            MemoryFileSystem.put(self._path, self.getvalue())
        super().close()


class MemoryFileSystem(FileSystem):
    """``memfs://bucket/key`` objects in a process-wide dict (FileSystems makes a new instance
    per call, so the store lives on the class)."""

    objects: dict[str, tuple[bytes, float]] = {}
    lock = threading.Lock()

    @classmethod
    def scheme(cls) -> str:
        return "memfs"

    @classmethod
    def put(cls, path: str, data: bytes) -> None:
        with cls.lock:
            cls.objects[path] = (data, time.time())

    def join(self, basepath: str, *paths: str) -> str:
        path = basepath
        for part in paths:
            path = path + part if path.endswith("/") else f"{path}/{part}"
        return path

    def split(self, path: str) -> tuple[str, str]:
        path = path.strip()
        last = path.rfind("/")
        if last < len(PREFIX):
            return path, ""
        return path[:last], path[last + 1 :]

    def mkdirs(self, path: str) -> None:
        """Object stores have no folders."""

    def has_dirs(self) -> bool:
        return False

    def _list(self, prefix: str):
        with self.lock:
            listing = sorted(self.objects.items())
        for path, (data, updated) in listing:
            if path.startswith(prefix):
                yield FileMetadata(path, len(data), updated)

    def _wrap(self, handle, path: str, compression_type: str):
        kind = self._get_compression_type(path, compression_type)
        return handle if kind == CompressionTypes.UNCOMPRESSED else CompressedFile(handle, kind)

    def create(
        self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO
    ):
        return self._wrap(_Object(path), path, compression_type)

    def open(
        self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO
    ):
        with self.lock:
            if path not in self.objects:
                raise BeamIOError(f"no such object: {path}")
            data = self.objects[path][0]
        return self._wrap(bytes_io.BytesIO(data), path, compression_type)

    def copy(self, source_file_names, destination_file_names):
        for source, destination in zip(source_file_names, destination_file_names, strict=True):
            with self.lock:
                if source not in self.objects:
                    raise BeamIOError("Copy operation failed", {source: "no such object"})
                self.objects[destination] = self.objects[source]

    def rename(self, source_file_names, destination_file_names):
        self.copy(source_file_names, destination_file_names)
        with self.lock:
            for source in source_file_names:
                self.objects.pop(source, None)

    def exists(self, path: str) -> bool:
        with self.lock:
            return path in self.objects

    def metadata(self, path: str) -> FileMetadata:
        with self.lock:
            if path not in self.objects:
                raise BeamIOError(f"Path does not exist: {path}")
            data, updated = self.objects[path]
        return FileMetadata(path, len(data), updated)

    def size(self, path: str) -> int:
        return self.metadata(path).size_in_bytes

    def last_updated(self, path: str) -> float:
        return self.metadata(path).last_updated_in_seconds

    def checksum(self, path: str) -> str:
        with self.lock:
            return hashlib.md5(self.objects[path][0]).hexdigest()

    def delete(self, paths):
        """Like gs://: a path ending in '/' removes everything under it, else the match."""
        for path in paths:
            pattern = path + "**" if path.endswith("/") else path
            found = [m.path for m in self.match([pattern])[0].metadata_list]
            with self.lock:
                for name in found:
                    del self.objects[name]


def _upload(local: Path, remote: str, lines: int) -> None:
    """The corpus's audio, and its manifests cut to their first ``lines`` lines (relative audio
    paths kept, so they resolve against the remote manifest's folder)."""
    for path in sorted(local.rglob("*")):
        data = path.read_bytes() if path.is_file() else None
        if data is not None and path.suffix == ".jsonl":
            data = b"".join(data.splitlines(keepends=True)[:lines])
        if data is not None:
            MemoryFileSystem.put(f"{remote}/{path.relative_to(local).as_posix()}", data)


@pytest.fixture
def bucket():
    """A fresh, empty store for each test."""
    MemoryFileSystem.objects.clear()
    yield "memfs://bucket"
    MemoryFileSystem.objects.clear()


def test_remove_tree_clears_a_folder_of_objects(bucket):
    for name in ("segments/a.parquet", "segments/_SUCCESS", "segments-old/keep"):
        MemoryFileSystem.put(f"{bucket}/run/{name}", b"x")
    io.remove_tree(f"{bucket}/run/segments")
    assert sorted(MemoryFileSystem.objects) == [f"{bucket}/run/segments-old/keep"]


def test_run_on_a_remote_filesystem(corpus, bucket, tmp_path):
    remote = f"{bucket}/corpus"
    _upload(corpus, remote, lines=8)
    MemoryFileSystem.put(f"{remote}/audio/pool-000020.txt", b"a sidecar transcript")
    inputs = [f"{remote}/pool.jsonl", f"{remote}/audio/pool-00002[01].flac"]
    config = corpus_config(corpus, f"{bucket}/run", input=inputs, target=[f"{remote}/target.jsonl"])
    record = run.run_all(config, IN_PROCESS, resume=False)
    out = f"{bucket}/run"
    assert record == json.loads(io.read_text(f"{out}/run.json"))
    targets = min(8, len((corpus / "target.jsonl").read_text().splitlines()))
    assert record["stages"]["curate"]["counts"]["inputs"] == 8 + 2 + targets
    segments = io.read_parquet(f"{out}/segments/*.parquet", ["source", "text"]).to_pylist()
    assert {
        "source": f"{remote}/audio/pool-000020.flac",
        "text": "a sidecar transcript",
    } in segments
    assert any(name.startswith(f"{out}/segments/") for name in MemoryFileSystem.objects)
    resumed = run.run_all(config, IN_PROCESS, resume=True)
    assert all(stage["skipped"] for stage in resumed["stages"].values())
    shards = f"{out}/shards"
    assert shardio.verify(shards) == []
    samples = list(read_samples(shards))
    assert len(samples) == record["stages"]["shard"]["counts"]["samples_written"] > 0
    assert all(s.fields["source"].startswith(f"{bucket}/corpus/audio/") for s in samples)
    assert io.exists(write_report(out))
    nemo = export(out, "nemo", f"{bucket}/nemo")
    line = json.loads(io.read_text(nemo["manifests"]["train"]).splitlines()[0])
    assert line["audio_filepath"].startswith(f"{bucket}/nemo/audio/") and io.exists(
        line["audio_filepath"]
    )
    tiny = TrainSettings(
        model="random:whisper?window=10&d_model=32&layers=1", steps=2, data={"max_seconds": 10}
    )
    metrics = train(tiny, shards=shards, out=str(tmp_path / "adapter"))
    assert metrics["steps"] == 2 and "unreadable_shard" not in metrics["dropped"]


def test_dataflow_example_points_every_path_at_gcs():
    config = load_config(Path(__file__).resolve().parent.parent / "examples" / "dataflow.yaml")
    paths = [*config.input, *config.target, config.output, *config.ingest.roots]
    assert all(p.startswith("gs://") for p in paths), paths
