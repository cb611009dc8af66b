"""Hostile and odd inputs: path escapes, duplicates, huge transcripts, odd headers and names."""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile

from voxsift import io as vio
from voxsift.config import parse_config
from voxsift.pipelines import run
from voxsift.synth import speak

SENTENCE = "Please send the parcel to the station before the evening train."


@pytest.fixture(scope="module")
def speech_flac() -> bytes:
    audio, rate = speak(SENTENCE, "en-gb-x-rp", 160)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="FLAC")
    return buffer.getvalue()


def _wav_with_rate(rate: int) -> bytes:
    """A valid 16-bit WAV whose header claims ``rate`` samples per second."""
    samples = (np.sin(np.arange(16000) / 5) * 8000).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data"
    body += struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _layout(root: Path, outside: Path, speech_flac: bytes) -> None:
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.flac").write_bytes(speech_flac)
    (root / "good.flac").write_bytes(speech_flac)
    (root / "odd name é ü.flac").write_bytes(speech_flac)
    (root / "flac_named.ogg").write_bytes(speech_flac)
    (root / "zero.flac").write_bytes(b"")
    (root / "one_hertz.wav").write_bytes(_wav_with_rate(1))
    (root / "growing.flac").write_bytes(speech_flac)
    (root / "folder.wav").mkdir()
    tiny, rate = speak("hi", "en-us", 160)
    soundfile.write(root / "tiny.wav", tiny[: int(rate * 0.01)], rate)
    os.symlink(outside / "secret.flac", root / "sub" / "link.flac")
    lines = [
        {"audio": "good.flac", "text": SENTENCE},
        {"audio": "odd name é ü.flac", "text": SENTENCE},
        {"audio": "flac_named.ogg"},
        {"audio": "zero.flac"},
        {"audio": "one_hertz.wav"},
        {"audio": "growing.flac"},
        {"audio": "folder.wav"},
        {"audio": "tiny.wav"},
        {"audio": "../outside/secret.flac"},
        {"audio": str(outside / "secret.flac")},
        {"audio": "sub/link.flac"},
        {"audio": "good.flac", "text": "the same file listed again"},
        {"audio": "good.flac", "text": "x" * 100_000},
    ]
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    (root / "manifest.jsonl").write_text(text, encoding="utf-8")


def test_hostile_inputs_are_refused_with_reasons(tmp_path, speech_flac, monkeypatch):
    root, outside = tmp_path / "data", tmp_path / "outside"
    _layout(root, outside, speech_flac)
    real_read = vio.read_bytes

    def read_while_growing(path: str) -> bytes:
        data = real_read(path)
        if path.endswith("growing.flac"):
            with open(path, "ab") as handle:
                handle.write(b"\0" * 64)
        return data

    monkeypatch.setattr(vio, "read_bytes", read_while_growing)
    config = parse_config(
        {
            "input": [str(root / "manifest.jsonl")],
            "output": str(tmp_path / "out"),
            "ingest": {"roots": [str(root)]},
            "select": {"method": "random"},
        }
    )
    run.run_all(config, [], resume=False)
    rejects = pq.read_table(tmp_path / "out" / "rejects").to_pylist()
    reasons = {r["source"].rsplit("/", 1)[-1]: r["reason"] for r in rejects}
    assert reasons == {
        "zero.flac": "empty_file",
        "one_hertz.wav": "bad_sample_rate",
        "growing.flac": "changed_while_reading",
        "folder.wav": "unreadable",
        "tiny.wav": "no_speech",
        "manifest.jsonl:9": "path_outside_roots",
        "manifest.jsonl:10": "path_outside_roots",
        "manifest.jsonl:11": "path_outside_roots",
        "manifest.jsonl:12": "duplicate_input",
        "manifest.jsonl:13": "transcript_too_long",
    }
    kept = pq.read_table(tmp_path / "out" / "segments", columns=["source", "text"]).to_pylist()
    names = sorted(Path(row["source"]).name for row in kept)
    assert names == ["flac_named.ogg", "good.flac", "odd name é ü.flac"]
    assert {row["text"] for row in kept if row["source"].endswith("good.flac")} == {SENTENCE}
