"""Awkward and broken inputs: the unusable ones become reject rows, the usable ones are kept."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile

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
    lines = [
        json.dumps({"audio": name, "text": SENTENCE}).encode()
        for name in (*files, "nan.wav", "six_channel.wav", "eight_k.wav", "header_only.wav")
    ]
    lines += [
        json.dumps({"audio": "long.flac", "text": "four sentences"}).encode(),
        json.dumps({"audio": "missing.wav", "text": SENTENCE}).encode(),
        b'{"audio": "good.flac", "text": "caf\xe9 in latin-1"}',
        b'{"audio": "good.flac", "text": ',
        b'["not", "an", "object"]',
        b"",
    ]
    (folder / "manifest.jsonl").write_bytes(b"\n".join(lines))
    glob_dir = folder / "globbed"
    glob_dir.mkdir()
    (glob_dir / "a.flac").write_bytes(good)
    (glob_dir / "a.txt").write_text(SENTENCE)
    (glob_dir / "b.flac").write_bytes(good)
    (glob_dir / "b.txt").write_bytes(b"\xff\xfe bad sidecar")
    return lines


def test_bad_inputs_are_rejected_with_reasons_and_the_rest_completes(tmp_path, speech):
    _write_inputs(tmp_path, speech)
    config = parse_config(
        {
            "input": [str(tmp_path / "manifest.jsonl"), str(tmp_path / "globbed" / "*")],
            "output": str(tmp_path / "out"),
            "segment": {"max_seconds": 8.0},
            "select": {"method": "random"},
        }
    )
    record = run.run_all(config, [], resume=False)
    rejects = pq.read_table(tmp_path / "out" / "rejects").to_pylist()
    reason_of = {Path(r["source"]).name: r["reason"] for r in rejects}
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
    }
    assert all(r["stage"] == "curate" and r["error"] for r in rejects)
    segments = pq.read_table(tmp_path / "out" / "segments").to_pylist()
    by_source = {}
    for row in segments:
        by_source.setdefault(Path(row["source"]).name, []).append(row)
    assert set(by_source) == {"good.flac", "six_channel.wav", "eight_k.wav", "long.flac", "a.flac"}
    for name in ("good.flac", "six_channel.wav", "eight_k.wav"):
        (row,) = by_source[name]
        assert row["text"] == SENTENCE and row["text_status"] == "reference"
        decoded, rate = soundfile.read(io.BytesIO(row["audio"]))
        assert rate == 16000 and decoded.ndim == 1
    assert by_source["a.flac"][0]["text"] == SENTENCE
    long_rows = by_source["long.flac"]
    assert len(long_rows) >= 2
    assert all(r["text"] is None and r["text_status"] == "dropped_split" for r in long_rows)
    assert all(r["duration"] <= 8.0 + 1e-6 for r in long_rows)
    counts = record["stages"]["curate"]["counts"]
    assert counts["inputs"] == 16 and counts["inputs_rejected"] == 11 and counts["inputs_kept"] == 5
