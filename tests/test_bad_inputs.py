"""Awkward and broken inputs: the unusable ones become reject rows, the usable ones are kept.

Nothing a manifest line holds aborts the run or a later stage: every line below is either a
reject row with its reason or carried into the shards as strict JSON.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import tarfile
import tracemalloc
import urllib.parse
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile
import torch
import torchaudio.functional

from voxsift import audio as voxaudio
from voxsift.audiostream import StreamResampler
from voxsift.config import parse_config
from voxsift.pipelines import run
from voxsift.synth import speak

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, int]:
    return speak(SENTENCE, "en-us", 150)


def _flac(audio: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="FLAC")
    return buffer.getvalue()


def _unknown_length(flac: bytes) -> bytes:
    """A legal FLAC whose STREAMINFO leaves the length unknown: total_samples (36 bits at bit
    108 of the block, which starts at byte 8) set to 0, as a streaming encoder writes it."""
    data = bytearray(flac)
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO comes first
    data[21] &= 0xF0
    data[22:26] = bytes(4)
    return bytes(data)


def _wav_claiming(audio: np.ndarray, rate: int, claimed: int) -> bytes:
    """16-bit WAV of ``audio`` whose header says ``claimed`` Hz."""
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="WAV", subtype="PCM_16")
    data = bytearray(buffer.getvalue())
    fmt = data.index(b"fmt ") + 8
    struct.pack_into("<II", data, fmt + 4, claimed, claimed * 2 & 0xFFFFFFFF)
    return bytes(data)


ODD_METADATA = {
    "source": "spoofed",
    "key": "spoofed",
    "weight": "heavy",
    "meta": {"nested": [[[[{"deep": True}]]]]},
    "big": 10**4000,
    "emoji": "🙂 é \u0000 nul",
    "k" * 5000: "a very long key",
}
"""Accepted as it is: metadata named like voxsift's own fields, a 4,001-digit integer, a NUL."""


def _hostile_lines(folder: Path) -> list[bytes]:
    """Manifest lines that once aborted the run, and their relatives (lines 16 on)."""
    good_uri = "file://" + urllib.parse.quote(str(folder / "good.flac"))
    deep = b'{"audio": "good.flac", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    return [
        json.dumps({"audio": good_uri}).encode(),
        b'{"audio": "ftp://h/x.wav"}',
        b'{"audio": "gs://b/x.wav"}',
        b'{"audio": "file://host/x.flac"}',
        deep,
        b'{"audio": "good.flac", "n": ' + b"7" * 5000 + b"}",
        b'{"audio": "good.flac", "x": NaN}',
        b'{"audio": "good.flac", "x": [1, {"y": -Infinity}]}',
        b'{"audio": "good.flac", "x": 1e400}',
        b'{"audio": "good.flac", "x": "\\ud800"}',
        b'{"audio": "good.flac", "speaker": "\\udfff"}',
        b'{"audio": "good.flac", "text": "a \\udc80 b"}',
        b'{"audio": "good.flac", "x": 1, "x": 2}',
        b'\xef\xbb\xbf{"audio": "good.flac"}',
        b'{"audio": "good.flac"}\r',
        b'{"audio": null}',
        b'{"audio": ["good.flac"]}',
        b'{"audio": ""}',
        b'{"audio": "good\\u0000.flac"}',
        b'{"audio": "good.flac", "x": ' + b"[" * 40 + b"]" * 40 + b"}",
        json.dumps({"audio": "unknown_length.flac", "text": SENTENCE}).encode(),
        json.dumps({"audio": "awkward_rate.wav", "text": SENTENCE}).encode(),
        b'{"audio": "huge_rate.wav"}',
        b'{"audio": "devzero.wav"}',
        b'{"audio": "loop.wav"}',
        b'{"audio": "nosuch://b/x.wav"}',
    ]


def _write_inputs(folder: Path, speech: tuple[np.ndarray, int]) -> list[bytes]:
    """Audio files of every awkward kind, and the manifest lines that point at them."""
    audio, rate = speech
    silence = np.zeros(rate * 2, dtype=np.float32)
    long_speech = np.concatenate([audio, np.zeros(rate, dtype=np.float32)] * 4)
    good = _flac(audio, rate)
    files = {
        "good.flac": good,
        "empty.wav": b"",
        "random.wav": np.random.default_rng(0).bytes(4000),
        "truncated.flac": good[: len(good) // 2],
        "silence.flac": _flac(silence, rate),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    nan_audio = audio.copy()
    nan_audio[1000:1010] = np.nan
    soundfile.write(folder / "nan.wav", nan_audio, rate, subtype="FLOAT")
    soundfile.write(folder / "six_channel.wav", np.tile(audio[:, None], (1, 6)), rate)
    eight_k = soundfile.read(io.BytesIO(_flac(audio, rate)))[0][::2]  # crude 2:1 decimation
    soundfile.write(folder / "eight_k.wav", eight_k, rate // 2 - 25, subtype="PCM_16")
    soundfile.write(folder / "header_only.wav", np.zeros((0,), dtype=np.float32), 16000)
    soundfile.write(folder / "long.flac", long_speech, rate)
    (folder / "unknown_length.flac").write_bytes(_unknown_length(good))
    (folder / "awkward_rate.wav").write_bytes(_wav_claiming(audio, rate, rate + 1))
    (folder / "huge_rate.wav").write_bytes(_wav_claiming(audio, rate, 2**31 - 1))
    os.symlink("/dev/zero", folder / "devzero.wav")
    os.symlink("loop.wav", folder / "loop.wav")
    os.symlink("/dev/zero", folder / "zero.jsonl")
    lines = [
        json.dumps({"audio": name, "text": SENTENCE}).encode()
        for name in (*files, "nan.wav", "six_channel.wav", "eight_k.wav", "header_only.wav")
    ]
    lines[0] = json.dumps({"audio": "good.flac", "text": SENTENCE, **ODD_METADATA}).encode()
    lines += [
        json.dumps({"audio": "long.flac", "text": "four sentences"}).encode(),
        json.dumps({"audio": "missing.wav", "text": SENTENCE}).encode(),
        b'{"audio": "good.flac", "text": "caf\xe9 in latin-1"}',
        b'{"audio": "good.flac", "text": ',
        b'["not", "an", "object"]',
        b"",
        *_hostile_lines(folder),
    ]
    (folder / "manifest.jsonl").write_bytes(b"\n".join(lines))
    glob_dir = folder / "globbed"
    glob_dir.mkdir()
    (glob_dir / "a.flac").write_bytes(good)
    (glob_dir / "a.txt").write_text(SENTENCE)
    (glob_dir / "b.flac").write_bytes(good)
    (glob_dir / "b.txt").write_bytes(b"\xff\xfe bad sidecar")
    (glob_dir / "c.flac").write_bytes(good)
    os.symlink("/dev/zero", glob_dir / "c.txt")
    (glob_dir / b"\xff latin-1 name.flac".decode("utf-8", "surrogateescape")).write_bytes(good)
    return lines


def _shard_samples(shards: Path) -> list[dict]:
    """Every sample's JSON in the shards, parsed strictly (NaN or Infinity would raise)."""

    def refuse(constant: str):
        raise ValueError(f"{constant} in a shard's JSON")

    samples = []
    for path in sorted(shards.glob("*.tar")):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    data = tar.extractfile(member).read().decode("utf-8")
                    samples.append(json.loads(data, parse_constant=refuse))
    return samples


def test_bad_inputs_are_rejected_with_reasons_and_the_rest_completes(tmp_path, speech):
    _write_inputs(tmp_path, speech)
    config = parse_config(
        {
            "input": [
                str(tmp_path / "manifest.jsonl"),
                str(tmp_path / "zero.jsonl"),
                str(tmp_path / "globbed" / "*"),
            ],
            "output": str(tmp_path / "out"),
            "segment": {"max_seconds": 8.0},
            "select": {"method": "random", "dedup": False},
        }
    )
    record = run.run_all(config, [], resume=False)
    rejects = pq.read_table(tmp_path / "out" / "rejects").to_pylist()
    reason_of = {Path(r["source"]).name: r["reason"] for r in rejects}
    line = {f"manifest.jsonl:{n}": reason for n, reason in enumerate([
        "duplicate_input", "unsupported_uri", "unsupported_uri", "unsupported_uri",
        "malformed_manifest_line", "malformed_manifest_line", "non_finite_metadata",
        "non_finite_metadata", "non_finite_metadata", "manifest_not_utf8", "manifest_not_utf8",
        "manifest_not_utf8", "malformed_manifest_line", "duplicate_input", "duplicate_input",
        "malformed_manifest_line", "malformed_manifest_line", "malformed_manifest_line",
        "malformed_manifest_line", "malformed_manifest_line",
    ], start=16)}  # fmt: skip
    assert reason_of == {
        "empty.wav": "empty_file",
        "random.wav": "undecodable",
        "truncated.flac": "undecodable",
        "silence.flac": "no_speech",
        "nan.wav": "non_finite_samples",
        "header_only.wav": "no_audio",
        "missing.wav": "missing_file",
        "manifest.jsonl:13": "malformed_manifest_line",
        "manifest.jsonl:14": "malformed_manifest_line",
        "manifest.jsonl:12": "manifest_not_utf8",
        "b.flac": "transcript_not_utf8",
        **line,
        "huge_rate.wav": "bad_sample_rate",
        "devzero.wav": "not_a_regular_file",
        "loop.wav": "symlink_loop",
        "manifest.jsonl:41": "unsupported_uri",
        "zero.jsonl": "not_a_regular_file",
        "c.flac": "not_a_regular_file",
        "\\xff latin-1 name.flac": "path_not_utf8",
    }
    assert all(r["stage"] == "curate" and r["error"] for r in rejects)
    errors = {Path(r["source"]).name: r["error"] for r in rejects}
    assert errors["manifest.jsonl:16"].endswith(f"already listed at {tmp_path}/manifest.jsonl:1")
    assert "above 384000 Hz" in errors["huge_rate.wav"]
    assert "character device" in errors["devzero.wav"] and "sidecar" in errors["c.flac"]
    segments = pq.read_table(tmp_path / "out" / "segments").to_pylist()
    by_source = {}
    for row in segments:
        by_source.setdefault(Path(row["source"]).name, []).append(row)
    assert set(by_source) == {
        "good.flac", "six_channel.wav", "eight_k.wav", "long.flac", "a.flac",
        "unknown_length.flac", "awkward_rate.wav",
    }  # fmt: skip
    for name in ("good.flac", "six_channel.wav", "eight_k.wav", "unknown_length.flac",
                 "awkward_rate.wav"):  # fmt: skip
        (row,) = by_source[name]
        assert row["text"] == SENTENCE and row["text_status"] == "reference"
        decoded, rate = soundfile.read(io.BytesIO(row["audio"]))
        assert rate == 16000 and decoded.ndim == 1
    assert by_source["unknown_length.flac"][0]["audio"] == by_source["good.flac"][0]["audio"]
    assert by_source["a.flac"][0]["text"] == SENTENCE
    long_rows = by_source["long.flac"]
    assert len(long_rows) >= 2
    assert all(r["text"] is None and r["text_status"] == "dropped_split" for r in long_rows)
    assert all(r["duration"] <= 8.0 + 1e-6 for r in long_rows)
    counts = record["stages"]["curate"]["counts"]
    assert counts["inputs"] == 45 and counts["inputs_kept"] == 7
    assert counts["inputs_rejected"] == len(rejects) == 38
    samples = _shard_samples(tmp_path / "out" / "shards")
    assert len(samples) == len(segments) == record["stages"]["shard"]["counts"]["samples_written"]
    (good,) = [s for s in samples if s["source"] == str(tmp_path / "good.flac")]
    assert good["meta"] == ODD_METADATA and isinstance(good["weight"], float)


def test_any_accepted_rate_resamples_in_bounded_memory(monkeypatch):
    """The common rates give torchaudio's output exactly (shards of existing configs do not
    change); an awkward one gets the same filter without the dense kernel (16000 x 48001 taps
    for 48001 Hz), in a few MB, streamed or whole alike."""
    rng = np.random.default_rng(0)
    for rate in (8000, 11025, 22050, 24000, 32000, 44100, 48000):
        x = rng.standard_normal(rate).astype(np.float32)
        expected = torchaudio.functional.resample(torch.from_numpy(x), rate, 16000).numpy()
        assert np.array_equal(voxaudio.resample_16k(x, rate), expected), rate
        monkeypatch.setattr(voxaudio, "DENSE_KERNEL_LIMIT", 0)  # the compact path, same filter
        assert np.allclose(voxaudio.resample_16k(x, rate), expected, atol=1e-4), rate
        monkeypatch.undo()

    def refuse(*args, **kwargs):
        raise AssertionError("torchaudio's dense kernel was built for an awkward rate")

    monkeypatch.setattr(torchaudio.functional, "resample", refuse)
    for rate in (48001, 22051, 4001, voxaudio.MAX_SOURCE_RATE - 1):
        x = rng.standard_normal(2 * rate).astype(np.float32)
        tracemalloc.start()
        whole = voxaudio.resample_16k(x, rate)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(whole) == math.ceil(16000 * len(x) / rate) and peak < 64 << 20, rate
        resampler = StreamResampler(rate)
        pieces = [resampler.feed(block) for block in np.array_split(x, 7)]
        streamed = np.concatenate([*pieces, resampler.finish()])
        assert np.allclose(streamed, whole, atol=1e-5), rate
