"""Benchmark of the trainer's data side: loader throughput, padding, adapter sizes.

    .venv/bin/python bench/train_loader.py [--clips 160] [--rounds 3] [--workers 0 1 2]

1. Loader throughput (seconds of audio and samples per second) with 0, 1 and 2 workers, as
   ratios against a plain loop over the same audio stored as loose FLAC files, measured in the
   same run. Both produce the same model inputs (Whisper log-mel over its 30 s window + labels),
   so the ratio is the cost or gain of shards + webdataset + bucketing + workers.
2. Padding fraction of duration-bucketed batches against fixed-size batches of the same mean
   size, on the same clips (for a CTC encoder, which pads to the longest clip).
3. Trainable parameters per adapter kind on whisper-small's architecture (built from its config
   on the meta device: no weights are downloaded or even allocated).

Figures depend on the machine and on what else runs on it; the ratios are what carries over.
The last lines are a markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import soundfile
import torch

from voxsift import shardio
from voxsift.asr.adapters import adapter_config, attach
from voxsift.asr.models import SpeechModel, build_model
from voxsift.audio import encode_flac
from voxsift.trainers.buckets import bucket_bounds, bucketed, fixed_size, padding_fraction
from voxsift.trainers.locate import resolve_shards
from voxsift.trainers.settings import DataSettings, TrainSettings
from voxsift.trainers.shards import ShardBatches, make_loader

RATE = 16_000
WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight"]


def make_corpus(folder: Path, clips: int, seed: int) -> list[float]:
    """Noisy tone clips of 1–20 s as 8 train shards + index.json (written by the shard stage's
    own writer, shardio), and as loose FLAC + JSON."""
    rng = np.random.default_rng(seed)
    loose = folder / "loose"
    loose.mkdir(parents=True)
    durations, entries = [], []
    per_shard = -(-clips // 8)
    for shard in range(8):
        samples = []
        for i in range(shard * per_shard, min((shard + 1) * per_shard, clips)):
            seconds = float(rng.uniform(1.0, 20.0))
            audio = (0.1 * rng.standard_normal(int(seconds * RATE))).astype(np.float32)
            flac = encode_flac(audio)
            text = " ".join(rng.choice(WORDS, size=max(1, int(seconds * 2))))
            row = {"key": f"{i:024x}", "audio": flac, "metadata": "{}", "text": text,
                   "source": "bench", "start": 0.0, "end": seconds,
                   "duration": seconds}  # fmt: skip
            chosen = {"weight": 1.0, "score": None, "rank": i, "method": "random"}
            samples.append(shardio.make_sample(row, chosen, "bench"))
            (loose / f"{i:08x}.flac").write_bytes(flac)
            (loose / f"{i:08x}.json").write_bytes(samples[-1]["json"])
            durations.append(seconds)
        name = shardio.shard_name("train", shard)
        entries.append(shardio.write_shard(str(folder), name, samples))
    shardio.write_index(str(folder), entries, "bench")
    return durations


def plain_loop(folder: Path, family, batch_size: int) -> tuple[float, int, float]:
    """Baseline: read each loose FLAC in order, decode, build the same inputs in fixed batches."""
    start = time.perf_counter()
    seconds, samples = 0.0, 0
    files = sorted((folder / "loose").glob("*.flac"))
    for group in fixed_size(files, batch_size):
        audio = [soundfile.read(str(f), dtype="float32")[0] for f in group]
        texts = [json.loads(f.with_suffix(".json").read_text())["text"] for f in group]
        family.collate(audio, texts)
        seconds += sum(len(a) for a in audio) / RATE
        samples += len(audio)
    return seconds, samples, time.perf_counter() - start


def loader_pass(folder: Path, family, workers: int, data: DataSettings) -> tuple[float, int, float]:
    """One epoch through the trainer's loader (shards → buckets → inputs), workers included."""
    start = time.perf_counter()
    dataset = ShardBatches(resolve_shards(str(folder)).train, data, family, seed=0)
    seconds, samples = 0.0, 0
    for batch in make_loader(dataset, workers):
        seconds += batch.seconds
        samples += batch.size
    return seconds, samples, time.perf_counter() - start


def adapter_sizes() -> dict[str, tuple[int, int]]:
    """(trainable, total) per adapter kind on whisper-small's architecture, weights on meta."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=51865,
        num_mel_bins=80,
        d_model=768,
        encoder_layers=12,
        decoder_layers=12,
        encoder_attention_heads=12,
        decoder_attention_heads=12,
        encoder_ffn_dim=3072,
        decoder_ffn_dim=3072,
        max_source_positions=1500,
        max_target_positions=448,
    )
    sizes = {}
    for kind in ("lora", "rslora", "s2lora", "bottleneck"):
        with torch.device("meta"):
            network = WhisperForConditionalGeneration(config)
        model = SpeechModel(network, SimpleNamespace(name="whisper"), "whisper-small-config")
        settings = TrainSettings(adapter=kind, rank=8, bottleneck_dim=64)
        with torch.device("meta"):
            sizes[kind] = attach(model, adapter_config(settings, model)).counts()
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=160, help="clips in the corpus")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="worker counts")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (best is kept)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # fair against the single-threaded baseline and between workers

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        durations = make_corpus(folder, args.clips, args.seed)
        family = build_model(
            "random:whisper?d_model=32&layers=1&max_tokens=448", texts=lambda: WORDS
        ).family
        data = DataSettings(batch_seconds=8 * 30.0, max_seconds=30.0, shuffle_buffer=64)
        runs = {"plain loop over loose FLAC files": lambda: plain_loop(folder, family, 8)}
        for workers in args.workers:
            runs[f"voxsift loader, {workers} workers"] = lambda w=workers: loader_pass(
                folder, family, w, data
            )
        best: dict[str, tuple[float, int, float]] = {}
        for _ in range(args.rounds):  # interleaved rounds, best of each: robust to busy CPUs
            for name, run in runs.items():
                result = run()
                if name not in best or result[2] < best[name][2]:
                    best[name] = result
        rows = [(name, *result) for name, result in best.items()]

    base_rate = rows[0][1] / rows[0][3]
    bounds = bucket_bounds(0.5, 30.0, 10)
    dynamic = list(bucketed(durations, float, bounds, max_seconds=120.0, buffer=2000))
    fixed = list(fixed_size(durations, round(len(durations) / len(dynamic))))
    sizes = adapter_sizes()

    print(f"\n{len(durations)} clips, {sum(durations) / 3600:.2f} h of audio, Whisper features")
    print("\n| loader | audio s/s | samples/s | × plain loop |")
    print("| --- | ---: | ---: | ---: |")
    if len({samples for _, _, samples, _ in rows}) > 1:
        print("warning: the loaders did not all see every clip:", [r[2] for r in rows])
    for name, seconds, samples, elapsed in rows:
        rate = seconds / elapsed
        print(f"| {name} | {rate:,.0f} | {samples / elapsed:,.1f} | {rate / base_rate:.2f} |")
    print("\n| batching (CTC, pad to longest) | padding fraction |")
    print("| --- | ---: |")
    print(f"| fixed {len(fixed[0])} clips per batch | {padding_fraction(fixed):.1%} |")
    print(f"| duration buckets, ≤ 120 s padded | {padding_fraction(dynamic):.1%} |")
    print("\n| adapter on whisper-small (rank 8, bottleneck 64) | trainable | share |")
    print("| --- | ---: | ---: |")
    for kind, (trainable, total) in sizes.items():
        print(f"| {kind} | {trainable:,} | {trainable / total:.3%} |")


if __name__ == "__main__":
    main()
