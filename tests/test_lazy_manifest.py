"""A manifest of 100,000 lines is streamed: the first items come before the file is read."""

from __future__ import annotations

import itertools
import json

from voxsift import io
from voxsift.transforms.ingest import ExpandInputs, InputItem
from voxsift.transforms.settings import IngestSettings


class _CountingHandle:
    def __init__(self, handle, counter: list[int]):
        self._handle, self._counter = handle, counter

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._counter[0] += len(data)
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def test_hundred_thousand_line_manifest_is_read_lazily(tmp_path, monkeypatch):
    manifest = tmp_path / "big.jsonl"
    line = {"audio": "clips/utterance.flac", "text": "some words " * 8, "speaker": "s1"}
    manifest.write_text("\n".join(json.dumps({**line, "n": i}) for i in range(100_000)))
    size = manifest.stat().st_size
    read = [0]
    real_open = io.open_input
    monkeypatch.setattr(io, "open_input", lambda path: _CountingHandle(real_open(path), read))
    items = ExpandInputs(IngestSettings()).process(("pool", str(manifest), 0))
    first = list(itertools.islice(items, 10))
    assert all(isinstance(item, InputItem) for item in first)
    assert first[0].metadata == {"n": 0} and first[9].origin == f"{manifest}:10"
    assert read[0] <= 2 * io.READ_CHUNK_BYTES < size / 4
    assert sum(1 for _ in items) == 100_000 - 10
