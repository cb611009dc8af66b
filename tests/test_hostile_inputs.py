"""Hostile and odd inputs: path escapes, duplicates, huge transcripts, odd headers and names,
FIFOs and devices where files belong, endless lines."""

from __future__ import annotations

import faulthandler
import hashlib
import io
import json
import os
import struct
import threading
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile

from voxsift import io as vio
from voxsift.config import ConfigError, parse_config
from voxsift.errors import InputError
from voxsift.pipelines import run
from voxsift.synth import speak

SENTENCE = "Please send the parcel to the station before the evening train."
WATCHDOG_SECONDS = 1200
"""Last resort if a read blocks in a way the FIFO watch cannot undo: dump stacks and exit."""


@pytest.fixture(scope="module")
def speech_flac() -> bytes:
    audio, rate = speak(SENTENCE, "en-gb-x-rp", 160)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="FLAC")
    return buffer.getvalue()


class FifoWatch:
    """Turns a read that would block on a FIFO forever into a test failure, not a hang.

    Polls each FIFO with a non-blocking open for writing, which succeeds only while some process
    has it open for reading (or waits in ``open`` to). Each time that happens the FIFO is noted
    and the writer closed at once, so the reader sees end-of-file and the run goes on.
    """

    def __init__(self, fifos: list[Path]):
        self.fifos, self.opened = fifos, set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            for fifo in self.fifos:
                try:
                    descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:  # ENXIO: nobody has it open for reading
                    continue
                self.opened.add(fifo.name)
                os.close(descriptor)

    def __enter__(self) -> FifoWatch:
        faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        faulthandler.cancel_dump_traceback_later()


def _wav_with_rate(rate: int) -> bytes:
    """A valid 16-bit WAV whose header claims ``rate`` samples per second."""
    samples = (np.sin(np.arange(16000) / 5) * 8000).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data"
    body += struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _raw_folder(raw: Path, outside: Path, speech_flac: bytes) -> list[Path]:
    """Globbed audio whose sidecars are hostile; returns the FIFOs made."""
    raw.mkdir()
    (outside / "secret.txt").write_text("the contents of a file outside the roots")
    for name in ("ok", "out", "fifo_side", "zero_side", "big_side", "loop_side"):
        (raw / f"{name}.flac").write_bytes(speech_flac)
    (raw / "ok.txt").write_text(SENTENCE + "\n")
    os.symlink(outside / "secret.txt", raw / "out.txt")
    os.mkfifo(raw / "fifo_side.txt")
    os.symlink("/dev/zero", raw / "zero_side.txt")
    (raw / "big_side.txt").write_text("words " * 500)
    os.symlink("loop_side.txt", raw / "loop_side.txt")
    os.symlink("loop.flac", raw / "loop.flac")
    os.mkfifo(raw / "fifo.flac")
    return [raw / "fifo_side.txt", raw / "fifo.flac"]


def _layout(root: Path, outside: Path, speech_flac: bytes) -> list[Path]:
    """Inputs of every hostile kind under ``root``; returns the FIFOs made."""
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
    os.mkfifo(root / "fifo.wav")
    os.symlink("/dev/zero", root / "devzero.wav")
    os.symlink("loop.wav", root / "loop.wav")
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
        {"audio": "odd name é ü.flac", "text": "line 14 sorts before line 2 as a string"},
        {"audio": "fifo.wav"},
        {"audio": "devzero.wav"},
        {"audio": "loop.wav"},
        {"audio": "good.flac", "text": "y" * 300_000},
        {"audio": "good.flac", "text": "after the long line, still counted"},
    ]
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    (root / "manifest.jsonl").write_text(text, encoding="utf-8")
    (root / "a.jsonl").write_text(json.dumps({"audio": "good.flac", "text": "second manifest"}))
    os.mkfifo(root / "fifo.jsonl")
    os.symlink("/dev/zero", root / "zero.jsonl")
    (outside / "elsewhere.jsonl").write_text(json.dumps({"audio": str(root / "good.flac")}))
    raw_fifos = _raw_folder(root / "raw", outside, speech_flac)
    return [root / "fifo.wav", root / "fifo.jsonl", *raw_fifos]


def _hashes(folder: Path) -> dict[str, str]:
    """sha256 of every regular file under ``folder`` that is not a link."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_hostile_inputs_are_refused_with_reasons(tmp_path, speech_flac, monkeypatch):
    root, outside = tmp_path / "data", tmp_path / "outside"
    fifos = _layout(root, outside, speech_flac)
    before = _hashes(tmp_path)
    real_read = vio.read_input

    def read_while_growing(path: str, max_bytes: int) -> bytes:
        data = real_read(path, max_bytes)
        if path.endswith("growing.flac"):
            with open(path, "ab") as handle:
                handle.write(b"\0" * 64)
        return data

    monkeypatch.setattr(vio, "read_input", read_while_growing)
    manifests = ["manifest.jsonl", "a.jsonl", "fifo.jsonl", "zero.jsonl"]
    config = parse_config(
        {
            "input": [str(root / name) for name in manifests]
            + [str(outside / "elsewhere.jsonl"), str(root / "raw" / "*")],
            "output": str(tmp_path / "out"),
            "ingest": {
                "roots": [str(root)],
                "max_line_bytes": "200KB",
                "max_sidecar_bytes": "2KB",
            },
            "select": {"method": "random", "dedup": False},
        }
    )
    with FifoWatch(fifos) as watch:
        total = run._count_inputs(config)
        record = run.run_all(config, [], resume=False)
    assert watch.opened == set(), "a FIFO was opened for reading"
    rejects = pq.read_table(tmp_path / "out" / "rejects").to_pylist()
    reasons = {r["source"].rsplit("/", 1)[-1]: r["reason"] for r in rejects}
    assert reasons == {
        "zero.flac": "empty_file",
        "one_hertz.wav": "bad_sample_rate",
        "growing.flac": "changed_while_reading",
        "folder.wav": "not_a_regular_file",
        "tiny.wav": "no_speech",
        "manifest.jsonl:9": "path_outside_roots",
        "manifest.jsonl:10": "path_outside_roots",
        "manifest.jsonl:11": "path_outside_roots",
        "manifest.jsonl:12": "duplicate_input",
        "manifest.jsonl:13": "transcript_too_long",
        "manifest.jsonl:14": "duplicate_input",
        "fifo.wav": "not_a_regular_file",
        "manifest.jsonl:16": "path_outside_roots",  # /dev/zero lies outside the roots
        "loop.wav": "symlink_loop",
        "manifest.jsonl:18": "manifest_line_too_long",
        "manifest.jsonl:19": "duplicate_input",
        "a.jsonl:1": "duplicate_input",
        "fifo.jsonl": "not_a_regular_file",
        "zero.jsonl": "path_outside_roots",
        "elsewhere.jsonl": "path_outside_roots",
        "out.flac": "path_outside_roots",
        "fifo_side.flac": "not_a_regular_file",
        "zero_side.flac": "path_outside_roots",
        "big_side.flac": "transcript_too_long",
        "loop_side.flac": "symlink_loop",
        "loop.flac": "symlink_loop",
        "fifo.flac": "not_a_regular_file",
    }
    errors = {r["source"].rsplit("/", 1)[-1]: r["error"] for r in rejects}
    assert errors["out.flac"].startswith("sidecar transcript: ")
    assert "is a FIFO" in errors["fifo_side.flac"] and "is a directory" in errors["folder.wav"]
    assert "already listed at" in errors["manifest.jsonl:14"]
    assert errors["manifest.jsonl:14"].endswith("/manifest.jsonl:2")
    assert errors["a.jsonl:1"].endswith("/manifest.jsonl:1")
    kept = pq.read_table(tmp_path / "out" / "segments", columns=["source", "text"]).to_pylist()
    names = sorted(Path(row["source"]).name for row in kept)
    assert names == ["flac_named.ogg", "good.flac", "odd name é ü.flac", "ok.flac"]
    texts = {Path(row["source"]).name: row["text"] for row in kept}
    assert texts["good.flac"] == texts["odd name é ü.flac"] == texts["ok.flac"] == SENTENCE
    whole_file = [r for r in rejects if r["key"] is None]
    assert total == record["stages"]["curate"]["counts"]["inputs"] == len(whole_file) + 4
    assert record["stages"]["shard"]["counts"]["samples_written"] == len(kept)
    after = _hashes(tmp_path)
    changed = {name for name in before if after.get(name) != before[name]}
    assert changed == {str(root / "growing.flac")}  # grown by this test, on purpose
    assert all(Path(name).is_relative_to(tmp_path / "out") for name in set(after) - set(before))


def test_guarded_reads_stop_at_their_ceiling(tmp_path):
    """A read takes at most one byte past its limit; one endless line is cut, not held; a FIFO
    or a device is refused on the open descriptor, before any read."""
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"a" * (3 << 20) + b"\n" + b'{"audio": "x.flac"}\n')
    assert vio.read_input(str(big), 10) == b"a" * 11
    assert list(vio.iter_input_lines(str(big), 1000)) == [b"a" * 1001, b'{"audio": "x.flac"}']
    os.mkfifo(tmp_path / "pipe")
    os.symlink("loop", tmp_path / "loop")
    cases = {"/dev/zero": "not_a_regular_file", str(tmp_path / "pipe"): "not_a_regular_file",
             str(tmp_path): "not_a_regular_file", str(tmp_path / "loop"): "symlink_loop",
             str(tmp_path / "absent"): "missing_file"}  # fmt: skip
    with FifoWatch([tmp_path / "pipe"]) as watch:
        for path, reason in cases.items():
            with pytest.raises(InputError) as caught:
                vio.read_input(path, 10)
            assert caught.value.reason == reason, path
    assert watch.opened == set()


def test_ingest_ceilings_are_validated_before_work():
    base = {"input": ["m.jsonl"], "output": "out", "select": {"method": "random"}}
    config = parse_config({**base, "ingest": {"max_line_bytes": "2KB", "max_sidecar_bytes": 512}})
    assert (config.ingest.max_line_bytes, config.ingest.max_sidecar_bytes) == (2000, 512)
    for bad in (0, -1, True, "lots"):
        with pytest.raises(ConfigError, match=r"ingest\.max_sidecar_bytes"):
            parse_config({**base, "ingest": {"max_sidecar_bytes": bad}})
