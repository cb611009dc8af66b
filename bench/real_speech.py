"""The real teachers and denoisers on real recorded speech: WER, confidence, RTF, language ID.

Inputs are the Asterisk prompts Debian packages (voxsift/prompts.py), the half the tests never
use (part "b"): English for the teachers, Spanish, French and Italian (a language no test uses)
for language identification. Every figure of a table comes from one run on this machine.

1. Teachers on clean English prompts and on 0 dB white-noise copies: corpus WER, mean confidence,
   Spearman(confidence, per-utterance WER) over clean + noisy, and the real-time factor (compute
   seconds per audio second, model load excluded). faster-whisper batched (batch 8) against one
   segment per call (batch 1), and against faster-whisper's own ``WhisperModel.transcribe`` per
   segment; pocketsphinx; transformers Whisper only where real weights exist locally (none here).
2. Language ID of faster-whisper base (``label.language: null``) on prompts of at least 4 s.
3. Does enhancement help the teacher? tiny.en's WER on 5 dB noisy prompts with enhancement off,
   always applied and behind the SNR gate, per method (rnnoise, deepfilternet, gtcrn).

    .venv/bin/python bench/real_speech.py [--prompts 40] [--languages 30]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr

from voxsift import prompts
from voxsift.audio import load_mono_16k
from voxsift.evaltext import corpus_error_rates
from voxsift.schema import SAMPLE_RATE, Segment, segment_key
from voxsift.transforms.enhance import EnhanceHandler
from voxsift.transforms.label import LabelHandler
from voxsift.transforms.settings import EnhanceSettings, LabelSettings


def noisy(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(audio))
    scale = np.sqrt(np.mean(audio.astype(np.float64) ** 2) / 10 ** (snr_db / 10))
    return (audio + scale * noise).astype(np.float32)


def segment(name: str, audio: np.ndarray, text: str | None) -> Segment:
    end = len(audio) / SAMPLE_RATE
    return Segment(segment_key(name, 0.0, end), "pool", name, 0.0, end, audio, text, "ok")


def english_sets(count: int) -> dict[str, list[Segment]]:
    chosen = prompts.load_prompts("en", min_words=3, part="b", limit=count, max_seconds=12.0)
    audio = [load_mono_16k(p.path.read_bytes())[0] for p in chosen]
    return {
        "clean": [segment(p.name, a, p.text) for p, a in zip(chosen, audio, strict=True)],
        "0 dB": [
            segment(f"n/{p.name}", noisy(a, 0.0, i), p.text)
            for i, (p, a) in enumerate(zip(chosen, audio, strict=True))
        ],
    }


def timed_labels(handler: LabelHandler, model, segments: Sequence[Segment], batch: int):
    """(labeled segments, compute seconds) through the handler, ``batch`` segments a call."""
    started, out = time.perf_counter(), []
    for i in range(0, len(segments), batch):
        out += handler.process_batch(segments[i : i + batch], model)
    return out, time.perf_counter() - started


def transcribe_per_segment(segments: Sequence[Segment]):
    """faster-whisper's own transcribe(), one call per segment, its VAD and fallback off."""
    from faster_whisper import WhisperModel

    from voxsift import models

    folder = models.model_folder(models.WHISPER_MODELS["tiny.en"])
    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=2)
    started, texts = time.perf_counter(), []
    for s in segments:
        parts, _ = model.transcribe(
            s.audio, language="en", beam_size=5, temperature=0.0, vad_filter=False,
            without_timestamps=True, condition_on_previous_text=False,
        )  # fmt: skip
        texts.append(" ".join(p.text.strip() for p in parts))
    return texts, time.perf_counter() - started


def teacher_row(name: str, sets, labels, seconds: float) -> str:
    clean, dirty = labels["clean"], labels["0 dB"]
    refs = [s.text for s in sets["clean"]]
    wer = corpus_error_rates(refs, [s.fields["pseudo_text"] for s in clean])["wer"]
    noisy_wer = corpus_error_rates(refs, [s.fields["pseudo_text"] for s in dirty])["wer"]
    mixed = clean + dirty
    conf = [s.fields["confidence"] for s in mixed]
    rho = spearmanr(conf, [s.fields["label_wer"] for s in mixed]).statistic
    audio = sum(s.duration for group in sets.values() for s in group)
    mean = {k: np.mean([s.fields["confidence"] for s in v]) for k, v in labels.items()}
    return (
        f"| {name} | {wer:.3f} | {noisy_wer:.3f} | {mean['clean']:.2f} | {mean['0 dB']:.2f} "
        f"| {rho:.2f} | {seconds / audio:.3f} |"
    )


def teacher_table(count: int) -> None:
    sets = english_sets(count)
    print(f"\n{len(sets['clean'])} English prompts (part b) clean and at 0 dB white noise\n")
    print("| teacher | WER clean | WER 0 dB | conf clean | conf 0 dB | ρ(conf, WER) | RTF |")
    print("|---|---|---|---|---|---|---|")
    runs = [
        ("faster-whisper tiny.en, batch 8", "faster-whisper:tiny.en", {}, 8),
        ("faster-whisper tiny.en, one per call", "faster-whisper:tiny.en", {}, 1),
        ("faster-whisper tiny.en greedy, batch 8", "faster-whisper:tiny.en", {"beam_size": 1}, 8),
        ("faster-whisper base, batch 8", "faster-whisper:base", {}, 8),
        ("pocketsphinx", "pocketsphinx", {}, 8),
    ]
    for name, teacher, extra, batch in runs:
        handler = LabelHandler(LabelSettings(teacher=teacher, relabel_transcribed=True, **extra))
        model = handler.load_model()
        labels, seconds = {}, 0.0
        for key, group in sets.items():
            labels[key], spent = timed_labels(handler, model, group, batch)
            seconds += spent
        print(teacher_row(name, sets, labels, seconds))
    texts, seconds = transcribe_per_segment(sets["clean"])
    wer = corpus_error_rates([s.text for s in sets["clean"]], texts)["wer"]
    audio = sum(s.duration for s in sets["clean"])
    print(f"| WhisperModel.transcribe per segment (tiny.en) | {wer:.3f} | | | | | "
          f"{seconds / audio:.3f} |")  # fmt: skip
    print("| transformers Whisper | no real weights offline | | | | | |")


def language_table(count: int) -> None:
    handler = LabelHandler(
        LabelSettings(teacher="faster-whisper:base", language=None, max_new_tokens=8)
    )
    model = handler.load_model()
    print("\n| language | prompts ≥ 4 s | right | accuracy | mean probability |")
    print("|---|---|---|---|---|")
    for language, part in (("es", "b"), ("fr", "b"), ("it", None)):
        if not prompts.available(language):
            print(f"| {language} | not installed | | | |")
            continue
        chosen = prompts.load_prompts(
            language, min_words=3, part=part, min_seconds=4.0, limit=count
        )
        segments = [segment(p.name, load_mono_16k(p.path.read_bytes())[0], None) for p in chosen]
        labeled, _ = timed_labels(handler, model, segments, 8)
        right = sum(s.fields["detected_language"] == language for s in labeled)
        prob = np.mean([s.fields["language_probability"] for s in labeled])
        print(f"| {language} | {len(chosen)} | {right} | {right / len(chosen):.2f} | {prob:.2f} |")


def enhancement_table(count: int) -> None:
    chosen = prompts.load_prompts("en", min_words=3, part="b", limit=count, max_seconds=12.0)
    segments = [
        segment(p.name, noisy(load_mono_16k(p.path.read_bytes())[0], 5.0, i), p.text)
        for i, p in enumerate(chosen)
    ]
    handler = LabelHandler(
        LabelSettings(teacher="faster-whisper:tiny.en", relabel_transcribed=True)
    )
    model = handler.load_model()
    refs = [s.text for s in segments]

    def wer_of(inputs: Sequence[Segment]) -> float:
        labeled, _ = timed_labels(handler, model, inputs, 8)
        return corpus_error_rates(refs, [s.fields["pseudo_text"] for s in labeled])["wer"]

    print(f"\ntiny.en WER on {len(segments)} English prompts at 5 dB white noise\n")
    print(
        "| enhancement | WER always | WER gated | gate kept | RTF enhance |\n|---|---|---|---|---|"
    )
    print(f"| off | {wer_of(segments):.3f} | | | |")
    for method in ("rnnoise", "deepfilternet", "gtcrn"):
        enhance = EnhanceHandler(EnhanceSettings(method=method))
        enhancer = enhance.load_model()
        started = time.perf_counter()
        outputs = enhancer.enhance([s.audio for s in segments])
        spent = time.perf_counter() - started
        always = [s.with_audio(out) for s, out in zip(segments, outputs, strict=True)]
        gated = [enhance.gate(s, out) for s, out in zip(segments, outputs, strict=True)]
        kept = sum(s.fields["enhancement"] != "none" for s in gated)
        audio = sum(s.duration for s in segments)
        print(f"| {method} | {wer_of(always):.3f} | {wer_of(gated):.3f} | {kept}/{len(gated)} "
              f"| {spent / audio:.3f} |")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--languages", type=int, default=30)
    args = parser.parse_args(argv)
    if not prompts.available("en"):
        print("asterisk-core-sounds-en is not installed: no real-speech tables")
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"real speech: {os.cpu_count()} CPUs, load average {load}")
    teacher_table(args.prompts)
    language_table(args.languages)
    enhancement_table(args.prompts // 2)


if __name__ == "__main__":
    main()
