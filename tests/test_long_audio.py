"""Long recordings are streamed: same resampling as a whole-file pass, bounded peak memory."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile

from voxsift.audio import load_mono_16k
from voxsift.audiostream import stream_mono_16k
from voxsift.synth import write_long_recording

RATE = 48_000
_PEAK_RSS = """
import resource, sys
from voxsift.cli import main
code = main(sys.argv[1:])
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100])
def test_streamed_resampling_equals_whole_file(rate):
    noise = np.random.default_rng(rate).standard_normal((rate * 40, 2)).astype(np.float32) * 0.1
    buffer = io.BytesIO()
    soundfile.write(buffer, noise, rate, format="FLAC")
    data = buffer.getvalue()
    whole, _ = load_mono_16k(data)
    streamed = np.concatenate(list(stream_mono_16k(lambda: io.BytesIO(data), block_seconds=7.3)))
    assert streamed.shape == whole.shape
    assert np.max(np.abs(streamed - whole)) < 1e-6


def _curate(tmp_path: Path, name: str, audio: Path) -> tuple[int, Path]:
    out = tmp_path / name
    manifest = tmp_path / f"{name}.jsonl"
    manifest.write_text(json.dumps({"audio": str(audio)}) + "\n")
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        f"input: [{manifest}]\noutput: {out}\n"
        "segment: {max_seconds: 15.0, stream_window_seconds: 120.0}\n"
        "select: {method: random}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, "curate", str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    peak = int(done.stdout.split("MAXRSS_KB")[-1])
    return peak, out


def test_twenty_minute_recording_is_segmented_in_bounded_memory(tmp_path):
    long_file, short_file = tmp_path / "long.flac", tmp_path / "short.flac"
    repeats = write_long_recording(long_file, 20)
    write_long_recording(short_file, 3)
    short_peak, _ = _curate(tmp_path, "short", short_file)
    long_peak, out = _curate(tmp_path, "long", long_file)
    rows = pq.read_table(out / "segments", columns=["start", "end", "duration"]).to_pylist()
    assert all(r["duration"] <= 15.0 + 1e-6 for r in rows)
    covered = sum(r["duration"] for r in rows)
    assert covered >= repeats * 2.0  # each repeat holds over 2 s of speech
    starts = sorted(r["start"] for r in rows)
    assert starts[-1] > 19 * 60 - 30  # segments reach the end of the recording
    whole_file_bytes = 20 * 60 * RATE * 2 * 4  # what decoding it whole would need, float32
    assert (long_peak - short_peak) * 1024 < whole_file_bytes / 4
