"""Throughput of the curate steps on this machine, offline, as markdown tables.

1. Pseudo-labeling through RunInference with batches against one call per record (batch size 1),
   for pocketsphinx (the default) and a Whisper of whisper-tiny's shape: wall time of a whole
   DirectRunner pipeline, model load included, so the ratio grows with the number of records.
2. Text normalization with the fast path against NeMo on every line, on the demo corpus' text.
3. The real-time factor of each step: seconds of compute per second of audio.

The transformers Whisper and demucs models have the real architectures (whisper-tiny, htdemucs)
and random weights: their compute is real, their output is noise, and a random Whisper always
generates ``--max-new-tokens`` tokens. Each ratio is measured in one run. Then the real packaged
models on real recorded speech (bench/real_speech.py): WER, confidence and RTF of faster-whisper
tiny.en and base (batched against one call per segment), pocketsphinx; language ID; whether
enhancement helps the teacher (``--real-prompts 0`` skips it).

    .venv/bin/python bench/label_throughput.py [--utterances 12] [--repeats 2] [--lines 300]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import apache_beam as beam
import numpy as np
import real_speech

from voxsift import synth
from voxsift.audio import to_mono_16k
from voxsift.espeak import speak
from voxsift.schema import SAMPLE_RATE, Segment, segment_key
from voxsift.transforms.enhance import EnhanceHandler
from voxsift.transforms.inference import CurateStep, SegmentHandler
from voxsift.transforms.label import LabelHandler
from voxsift.transforms.normalize import NemoNormalizer, NormalizeHandler, normalize_text
from voxsift.transforms.quality import QualityHandler
from voxsift.transforms.settings import (
    EnhanceSettings,
    LabelSettings,
    NormalizeSettings,
    QualitySettings,
)

CONDITIONS = (("clean", None), ("babble", 5.0), ("white", 10.0))
SPECIALS = (
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|transcribe|>",
    "<|translate|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
)


def make_segments(count: int, seed: int = 0) -> list[Segment]:
    """Demo-corpus utterances (2-8 s of espeak-ng speech), in turn clean, in babble, in noise."""
    rng = np.random.default_rng(seed)
    bank = synth.babble_bank(seed, size=6)
    segments = []
    for index in range(count):
        text = synth.make_text(rng)
        audio, rate = speak(text, rate_wpm=int(rng.integers(130, 190)))
        condition, snr_db = CONDITIONS[index % len(CONDITIONS)]
        audio, rate = synth.make_condition(audio, rate, condition, snr_db, rng, bank)
        audio = to_mono_16k(audio, rate)
        source = f"bench/{index}"
        end = len(audio) / SAMPLE_RATE
        segments.append(
            Segment(segment_key(source, 0, end), "pool", source, 0.0, end, audio, text, "ok")
        )
    return segments


def save_random_whisper(folder: Path) -> None:
    """whisper-tiny's architecture and vocabulary size, random weights, a filler vocabulary."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    size = WhisperConfig().vocab_size  # 51865, as whisper-tiny
    vocab = {char: i for i, char in enumerate(bytes_to_unicode().values())}
    vocab.update({f"Ġw{i}": len(vocab) + i for i in range(size - len(vocab) - len(SPECIALS))})
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIALS)})
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIALS}
    start, end = ids["<|startoftranscript|>"], ids["<|endoftext|>"]
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        decoder_start_token_id=start,
        eos_token_id=end,
        pad_token_id=end,
        bos_token_id=end,
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start,
        eos_token_id=end,
        pad_token_id=end,
        lang_to_id={"<|en|>": ids["<|en|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"],
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
    )
    model.save_pretrained(folder)
    WhisperProcessor(WhisperFeatureExtractor(), tokenizer).save_pretrained(folder)


def save_random_demucs(repo: Path) -> str:
    """htdemucs' architecture with random weights, as a package in a local demucs repo."""
    import torch
    from demucs.htdemucs import HTDemucs
    from demucs.states import get_state

    torch.manual_seed(0)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], segment=7.8)
    args, kwargs = model._init_args_kwargs
    torch.save(
        {
            "klass": HTDemucs,
            "args": args,
            "kwargs": kwargs,
            "training_args": {},
            "state": get_state(model, None),
        },
        repo / "random_htdemucs.th",
    )
    return f"demucs:random_htdemucs@{repo}"


def pipeline_seconds(handler: SegmentHandler, segments: Sequence[Segment]) -> float:
    """Wall time of a DirectRunner pipeline that runs one step over the segments."""
    started = time.perf_counter()
    with beam.Pipeline() as pipeline:
        _ = pipeline | beam.Create(segments) | CurateStep(handler)
    return time.perf_counter() - started


def batching_row(
    name: str, settings: LabelSettings, segments: Sequence[Segment], repeats: int
) -> str:
    """Batched and one-per-call runs interleaved, best of ``repeats`` each: the CPU is shared."""
    one_per_call = settings.model_copy(update={"batch_size": 1})
    single, batched = float("inf"), float("inf")
    for _ in range(repeats):
        single = min(single, pipeline_seconds(LabelHandler(one_per_call), segments))
        batched = min(batched, pipeline_seconds(LabelHandler(settings), segments))
    n = len(segments)
    return (
        f"| {name} | {settings.batch_size} | {n / batched:.2f} | {n / single:.2f} "
        f"| {single / batched:.2f}x |"
    )


def normalization_rows(texts: Sequence[str], language: str, cache_dir: str | None) -> list[str]:
    """Lines per second through the fast path and through NeMo alone, NeMo built beforehand."""
    nemo = NemoNormalizer(language, cache_dir)
    started = time.perf_counter()
    nemo.normalize("warm up on 1 line")
    build = time.perf_counter() - started
    started = time.perf_counter()
    needed = sum(normalize_text(text, nemo)[1] for text in texts)
    fast = time.perf_counter() - started
    started = time.perf_counter()
    for text in texts:
        nemo.normalize(text)
    every = time.perf_counter() - started
    n = len(texts)
    return [
        f"| fast path, NeMo for {needed} of {n} lines | {n / fast:.0f} | {every / fast:.1f}x |",
        f"| NeMo on every line (load {build:.1f} s) | {n / every:.0f} | 1.0x |",
    ]


def real_time_factor(handler: SegmentHandler, segments: Sequence[Segment]) -> float:
    """Compute seconds per audio second of a step's handler, model load excluded."""
    model = handler.load_model()
    started = time.perf_counter()
    for i in range(0, len(segments), 8):
        list(handler.run_inference(segments[i : i + 8], model))
    audio = sum(s.duration for s in segments)
    return (time.perf_counter() - started) / audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--demucs-utterances", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--real-prompts", type=int, default=40)
    args = parser.parse_args()

    segments = make_segments(args.utterances)
    audio_seconds = sum(s.duration for s in segments)
    with tempfile.TemporaryDirectory() as tmp:
        whisper_dir, demucs_dir = Path(tmp, "whisper"), Path(tmp, "demucs")
        demucs_dir.mkdir()
        save_random_whisper(whisper_dir)
        demucs_method = save_random_demucs(demucs_dir)
        whisper = LabelSettings(
            teacher=f"whisper:{whisper_dir}",
            device="cpu",
            max_new_tokens=args.max_new_tokens,
            batch_size=8,
        )
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"{len(segments)} utterances, {audio_seconds:.1f} s of audio, "
            f"{os.cpu_count()} CPUs, load average {load}\n"
        )
        print("| teacher | batch | records/s batched | records/s one per call | speed-up |")
        print("|---|---|---|---|---|")
        print(batching_row("pocketsphinx", LabelSettings(batch_size=8), segments, args.repeats))
        print(batching_row("whisper-tiny shape", whisper, segments, args.repeats))

        rng = np.random.default_rng(1)
        texts = [synth.make_text(rng) for _ in range(args.lines)]
        print("\n| normalization | lines/s | speed-up |\n|---|---|---|")
        print("\n".join(normalization_rows(texts, "en", NormalizeSettings().cache_dir)))

        stages = [
            ("quality (silero-vad + WADA)", QualityHandler(QualitySettings()), segments),
            ("enhance rnnoise + gate", EnhanceHandler(EnhanceSettings(method="rnnoise")), segments),
            (
                "enhance htdemucs shape + gate",
                EnhanceHandler(EnhanceSettings(method=demucs_method, device="cpu")),
                segments[: args.demucs_utterances],
            ),
            ("label pocketsphinx", LabelHandler(LabelSettings()), segments),
            ("label whisper-tiny shape", LabelHandler(whisper), segments),
            ("normalize (fast path + NeMo)", NormalizeHandler(NormalizeSettings()), segments),
        ]
        print("\n| step | real-time factor (CPU s per audio s) |\n|---|---|")
        for name, handler, subset in stages:
            print(f"| {name} | {real_time_factor(handler, subset):.3g} |")
    if args.real_prompts:
        real_speech.main(["--prompts", str(args.real_prompts)])


if __name__ == "__main__":
    main()
