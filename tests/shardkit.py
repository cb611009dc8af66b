"""Tiny voxsift shards for tests: tone "words" with their transcripts, written as real shards.

Each word is a tone of its own pitch, so a model can learn the mapping in a few steps; durations
vary so that bucketing has something to do. The shards are written by the shard stage's own
writer (:func:`voxsift.shardio.make_sample`, ``write_shard`` and ``write_index``), so the tests
read exactly the format a run writes and ``voxsift verify`` accepts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from voxsift import audio as voxaudio
from voxsift import shardio
from voxsift.schema import SAMPLE_RATE, segment_key

RATE = SAMPLE_RATE
WORDS = {"one": 330.0, "two": 440.0, "three": 550.0, "four": 660.0, "five": 880.0, "six": 990.0}
CONFIG_HASH = "shardkit"


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
    """16 kHz FLAC exactly as curate encodes a segment."""
    return voxaudio.encode_flac(audio)


def key(split: str, number: int) -> str:
    """The ``__key__`` of sample ``number`` of ``split`` (a segment key, as the pipeline's)."""
    return segment_key(f"tone/{split}/{number}", 0.0, 0.0)


def sample(split: str, number: int, audio: np.ndarray, text: str, weight: float, junk: bool):
    """One sample built by the shard stage's own function from a segment and a selection row."""
    duration = len(audio) / RATE
    row = {
        "key": key(split, number),
        "audio": b"not a flac file" if junk else flac_bytes(audio),
        "metadata": json.dumps({}),
        "text": text,
        "text_status": "ok",
        "role": "pool",
        "source": "tone",
        "start": 0.0,
        "end": duration,
        "duration": duration,
    }
    chosen = {"weight": weight, "score": None, "rank": number, "method": "random"}
    return shardio.make_sample(row, chosen, CONFIG_HASH)


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
            samples = []
            for i in range(start, min(start + per_shard, count)):
                audio, text = utterance(rng, max_words)
                weight = weights[i] if weights and split == "train" else 1.0
                junk = split == "train" and i < bad_audio
                samples.append(sample(split, i, audio, text, weight, junk))
            name = shardio.shard_name(split, shard)
            entries.append(shardio.write_shard(str(folder), name, samples))
    shardio.write_index(str(folder), entries, CONFIG_HASH)
    return folder
