"""The closed-loop benchmark's world: a clean source domain, a shifted target, a mixed pool.

Built from the demo synthesizer's parts (espeak-ng voices, `make_condition`'s channels and
noises). A *domain* is an acoustic condition, a set of voices and a speaking-rate range; the
manifests' ``condition`` field names the domain, so the select stage's diagnostics report the
selection's composition by domain. Every utterance is drawn from its own generator, seeded by
(seed, split, index), so the world is byte-identical run to run. Sentences with digits are
redrawn: the benchmark measures acoustic domain shift, not number verbalization.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from voxsift.espeak import SAMPLE_RATE, speak
from voxsift.synth import Utterance, babble_bank, make_condition, make_text

SOURCE_VOICES = ("en-us+m1", "en-us+f2", "en+m3", "en-gb-x-rp+f1")
OTHER_VOICES = ("en-us-nyc+m4", "en-gb-x-gbclan+f4", "en+f3", "en-us+klatt", "en-029+m1")
TARGET_VOICES = ("en-gb-scotland+m2", "en-029+f2")
NORMAL_RATE = (150, 190)
SECONDS = (1.5, 8.0)
PITCH = (35, 65)
MAX_DRAWS = 60


@dataclass(frozen=True)
class Domain:
    """Where an utterance comes from: condition, voices, rates (and SNRs for noisy ones)."""

    name: str
    condition: str
    voices: tuple[str, ...]
    rate_wpm: tuple[int, int] = NORMAL_RATE
    snrs_db: tuple[float, ...] = ()


SOURCE = Domain("source", "clean", SOURCE_VOICES)
TARGET = Domain("target", "telephone", TARGET_VOICES)
ALL_VOICES = SOURCE_VOICES + OTHER_VOICES + TARGET_VOICES
POOL_MIX: tuple[tuple[Domain, float], ...] = (
    (SOURCE, 0.20),
    (Domain("clean_other", "clean", OTHER_VOICES), 0.15),
    (Domain("white", "white", ALL_VOICES, snrs_db=(5.0, 10.0, 20.0)), 0.12),
    (Domain("babble", "babble", ALL_VOICES, snrs_db=(5.0, 10.0, 20.0)), 0.12),
    (Domain("reverb", "reverb", ALL_VOICES), 0.12),
    (Domain("fast", "clean", SOURCE_VOICES, rate_wpm=(230, 280)), 0.09),
    (Domain("telephone_other", "telephone", SOURCE_VOICES + OTHER_VOICES), 0.10),
    (TARGET, 0.10),
)
"""Pool domains and their shares: the target is one tenth, beside look-alikes of each kind."""


@dataclass(frozen=True)
class WorldSpec:
    """Split sizes; ``pool_labeled`` is the share of pool lines that carry their transcript."""

    seed: int = 0
    source_train: int = 1200
    source_test: int = 200
    pool: int = 3000
    pool_labeled: float = 0.5
    target: int = 50
    target_test: int = 300
    mix: tuple[tuple[Domain, float], ...] = field(default=POOL_MIX)


SPLITS = ("source_train", "source_test", "pool", "target", "target_test")


def _rng(seed: int, split: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(100 + split, index)))


def _text_without_digits(rng: np.random.Generator) -> str:
    while True:
        text = make_text(rng)
        if not any(c.isdigit() for c in text):
            return text


def _spoken(rng: np.random.Generator, voice: str, rate: int) -> tuple[str, np.ndarray]:
    """A sentence that lasts ``SECONDS`` at this voice and rate, and its clean audio."""
    pitch = int(rng.integers(PITCH[0], PITCH[1] + 1))
    for _ in range(MAX_DRAWS):
        text = _text_without_digits(rng)
        audio, rate_hz = speak(text, voice=voice, rate_wpm=rate, pitch=pitch)
        if SECONDS[0] <= len(audio) / rate_hz <= SECONDS[1]:
            return text, audio
    raise RuntimeError(f"no sentence of {SECONDS} s in {MAX_DRAWS} draws for {voice} at {rate}")


def _utterance(
    root: Path,
    name: str,
    rng: np.random.Generator,
    domain: Domain,
    labeled: bool,
    bank: Sequence[np.ndarray],
) -> Utterance:
    """Speak, degrade and write one utterance of ``domain``; its manifest record."""
    voice = domain.voices[int(rng.integers(len(domain.voices)))]
    rate = int(rng.integers(domain.rate_wpm[0], domain.rate_wpm[1] + 1))
    text, clean = _spoken(rng, voice, rate)
    snr = float(domain.snrs_db[int(rng.integers(len(domain.snrs_db)))]) if domain.snrs_db else None
    audio, rate_hz = make_condition(clean, SAMPLE_RATE, domain.condition, snr, rng, bank)
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    soundfile.write(root / "audio" / f"{name}.flac", pcm, rate_hz, format="FLAC", subtype="PCM_16")
    return Utterance(f"audio/{name}.flac", text, domain.name, voice, rate, snr, labeled)


def pool_plan(spec: WorldSpec) -> tuple[list[Domain], np.ndarray]:
    """Pool domains with exact shares (the remainder to the first), shuffled; labeled mask."""
    counts = [round(spec.pool * share) for _, share in spec.mix]
    counts[0] += spec.pool - sum(counts)
    domains = [d for (d, _), n in zip(spec.mix, counts, strict=True) for _ in range(n)]
    rng = _rng(spec.seed, 99, 0)
    domains = [domains[i] for i in rng.permutation(len(domains))]
    labeled = np.zeros(spec.pool, dtype=bool)
    labeled[rng.permutation(spec.pool)[: round(spec.pool * spec.pool_labeled)]] = True
    return domains, labeled


def _split_plan(spec: WorldSpec, split: str) -> tuple[Sequence[Domain], Sequence[bool]]:
    if split == "pool":
        domains, labeled = pool_plan(spec)
        return domains, labeled.tolist()
    size = getattr(spec, split)
    domain = SOURCE if split.startswith("source") else TARGET
    return [domain] * size, [True] * size


def _write_manifest(path: Path, records: Sequence[Utterance]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(record.to_json() + "\n" for record in records))
    os.replace(temporary, path)


def build_world(root: Path, spec: WorldSpec) -> dict[str, Path]:
    """Write every split's manifest and audio under ``root``; reuse a finished identical world.

    ``world.json`` (the spec) is written last: its presence with the same spec means done.
    """
    paths = {split: root / f"{split}.jsonl" for split in SPLITS}
    marker = root / "world.json"
    described = json.dumps(asdict(spec), sort_keys=True)
    if marker.exists() and marker.read_text() == described:
        return paths
    marker.unlink(missing_ok=True)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    bank = babble_bank(spec.seed)
    for number, split in enumerate(SPLITS):
        domains, labeled = _split_plan(spec, split)
        records = [
            _utterance(root, f"{split}-{i:06d}", _rng(spec.seed, number, i), d, flag, bank)
            for i, (d, flag) in enumerate(zip(domains, labeled, strict=True))
        ]
        _write_manifest(paths[split], records)
    marker.write_text(described)
    return paths


def read_manifest(path: Path) -> list[dict]:
    """Manifest lines as dicts, the audio path made absolute."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{**line, "audio": str(path.parent / line["audio"])} for line in lines]
