"""Tiny voxsift shards for tests: tone "words" with their transcripts, written as real shards.

Each word is a tone of its own pitch, so a model can learn the mapping in a few steps; durations
vary so that bucketing has something to do. Shards follow the backbone contract: FLAC + JSON per
sample and an index.json with counts, seconds, bytes and sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import soundfile
import webdataset as wds

RATE = 16_000
WORDS = {"one": 330.0, "two": 440.0, "three": 550.0, "four": 660.0, "five": 880.0, "six": 990.0}


def utterance(rng: np.random.Generator, max_words: int = 3) -> tuple[np.ndarray, str]:
    """Tone words with short gaps and random leading/trailing silence, and their text."""
    words = list(rng.choice(list(WORDS), size=int(rng.integers(1, max_words + 1))))
    parts = [np.zeros(int(rng.uniform(0.02, 0.6) * RATE), dtype=np.float32)]
    for word in words:
        t = np.arange(int(0.2 * RATE)) / RATE
        parts.append(0.5 * np.sin(2 * np.pi * WORDS[word] * t).astype(np.float32))
        parts.append(np.zeros(int(0.05 * RATE), dtype=np.float32))
    audio = np.concatenate(parts)
    audio += 0.01 * rng.standard_normal(len(audio)).astype(np.float32)
    return audio, " ".join(words)


def flac_bytes(audio: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, RATE, format="FLAC")
    return buffer.getvalue()


def write_shards(
    folder: Path,
    train: int = 48,
    valid: int = 8,
    per_shard: int = 16,
    seed: int = 0,
    bad_audio: int = 0,
    weights: list[float] | None = None,
    max_words: int = 3,
) -> Path:
    """Write train/valid shards and index.json; the first ``bad_audio`` samples hold junk FLAC."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    entries = []
    for split, count in (("train", train), ("valid", valid)):
        for shard, start in enumerate(range(0, count, per_shard)):
            name = f"{split}-{shard:06d}.tar"
            samples = []
            for i in range(start, min(start + per_shard, count)):
                audio, text = utterance(rng, max_words)
                weight = weights[i] if weights and split == "train" else 1.0
                junk = split == "train" and i < bad_audio
                samples.append((f"{split}{i:06x}", audio, text, weight, junk))
            entries.append(_write_tar(folder / name, split, samples))
    index = {"shards": entries, "samples": train + valid}
    (folder / "index.json").write_text(json.dumps(index, indent=1))
    return folder


def _write_tar(path: Path, split: str, samples: list) -> dict:
    seconds = 0.0
    with wds.TarWriter(str(path)) as writer:
        for key, audio, text, weight, junk in samples:
            duration = len(audio) / RATE
            seconds += duration
            meta = {
                "text": text,
                "weight": weight,
                "duration": duration,
                "source": "tone",
                "start": 0.0,
                "end": duration,
            }
            flac = b"not a flac file" if junk else flac_bytes(audio)
            writer.write({"__key__": key, "flac": flac, "json": json.dumps(meta).encode()})
    data = path.read_bytes()
    return {
        "name": path.name,
        "split": split,
        "samples": len(samples),
        "seconds": seconds,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
