"""The demo corpus: synthetic English speech under several acoustic conditions.

`synthesize` writes a candidate pool (mixed conditions, partly transcribed) and a small target
set (one condition, all transcribed), the two inputs distribution-nudging selection needs. The
target condition is deliberately rare in the pool, so a good selector has something to find.
Everything is drawn from generators seeded by (seed, stream, index): the same seed gives
byte-identical audio and manifests, and no utterance depends on the ones generated before it.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile

from voxsift import acoustics, io
from voxsift.espeak import SAMPLE_RATE, speak

__all__ = [
    "CONDITIONS",
    "Utterance",
    "babble_bank",
    "make_condition",
    "make_text",
    "speak",
    "synthesize",
]

CONDITIONS = ("clean", "white", "babble", "hum", "telephone", "reverb")
NOISY_CONDITIONS = frozenset({"white", "babble", "hum"})
SNRS_DB = (0.0, 5.0, 10.0, 20.0)
RT60S_S = (0.3, 0.5, 0.8)
BABBLE_TALKERS = (3, 6)
BABBLE_BANK_SIZE = 16
BASE_VOICES = (
    "en-us",
    "en",
    "en-gb-x-rp",
    "en-029",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-us-nyc",
)
VARIANTS = ("", "m1", "m2", "m3", "m4", "f1", "f2", "f3", "f4", "klatt")
RATE_WPM = (130, 210)
PITCH = (35, 65)
SECONDS = (1.5, 8.0)
DIGIT_SHARE = 0.05
SECOND_SENTENCE_SHARE = 0.35
MAX_TEXT_DRAWS = 50

# Generator streams: one per kind of thing drawn, so kinds never share random numbers.
_POOL, _TARGET, _BABBLE, _PLAN = range(4)

_WORDS = {
    "name": """Anna Ben Carlos Diana Ethan Fatima George Hannah Ivan Julia Kevin Laura Marcus
        Nina Oscar Priya Quentin Rosa Samuel Tara Umar Vera Walter Yusuf Zoe Alice Daniel Emma
        Felix Grace Henry Isabel Jacob Lena Martin Olivia Peter Sofia Thomas Victor""",
    # Nouns whose plural is the noun plus "s", for the digit templates.
    "noun": """apple bag ball banner barrel basket bell bicycle blade blanket board book bottle
        bowl brick bucket button cabinet cable cake camera candle canal cap car card carpet cart
        castle chain chair coat coin collar computer cookie cord cup curtain cushion desk diagram
        door drawer drum elephant engine envelope fence field film flag flower folder fork
        fountain frame gate glove guitar hammer hat helmet hook horse jacket kettle key kite
        ladder lamp lantern lemon letter lever magnet map meal melon menu mirror motor mug nail
        napkin needle net notebook onion orange oven package paddle painting pan parcel pedal
        pencil piano picture pillow pipe planet plant plate pocket poster pot printer puppet
        puzzle rabbit radio rail receipt recipe ribbon ring robot rocket rope rug saddle sail
        screen seat shirt shoe shovel sign signal skirt sled sock sofa spoon stamp statue sticker
        stone stove string suitcase sweater table tablet teapot tent ticket tiger toaster tool
        towel tower tractor train tree truck trumpet tunnel turtle umbrella vase violin wagon
        wallet wheel whistle window wire""",
    "adj": """old new small large heavy light bright dark quiet noisy clean dirty empty full
        warm cold wet dry soft hard smooth rough sharp broken shiny dusty green blue red yellow
        purple brown golden silver wooden plastic metal tiny huge narrow wide short long tall
        strange simple fancy cheap expensive famous friendly lucky careful gentle rusty fresh
        ancient modern spare extra borrowed favorite familiar fragile crowded bumpy sticky
        striped spotted square round flat curved hollow folded painted polished faded""",
    "verb": """move paint carry open close clean fix check find bring borrow return wash fold
        lift push pull sell buy order repair measure replace deliver collect count hide cover
        wrap label sort pack unpack share test polish store weigh mark photograph draw describe
        examine inspect recycle rescue protect unlock lock load unload mend prepare arrange
        decorate fill empty drop catch throw hold keep leave see watch show send""",
    "place": """kitchen garden library station office hallway basement museum bakery harbor
        hospital school park airport garage stadium theater pharmacy warehouse cafeteria
        classroom laboratory gym hotel cinema chapel attic workshop greenhouse barn""",
    "adv": """quickly slowly carefully quietly gently happily suddenly finally easily rarely
        often always nearly clearly politely calmly eagerly loudly neatly properly""",
    "degree": "very quite rather really surprisingly incredibly fairly",
    "time": """tomorrow tonight on_Monday on_Tuesday on_Wednesday on_Thursday on_Friday
        on_Saturday on_Sunday this_afternoon this_evening next_week before_lunch after_dinner
        in_the_morning later_today before_noon next_month right_away""",
}
_TEMPLATES = (
    "{name} will {verb} the {adj} {noun} {time}.",
    "Can you {verb} the {noun} in the {place}?",
    "I think the {noun} in the {place} is {degree} {adj}.",
    "{name} and {name2} want to {verb} a {adj} {noun}.",
    "Please {verb} the {noun} and the {noun2} {time}.",
    "There is a {adj} {noun} next to the {noun2} in the {place}.",
    "Do not {verb} the {noun} until {name} gets back from the {place}.",
    "The {noun} near the {place} looks {degree} {adj}, so {name} will {verb} it {time}.",
    "Why did {name} {verb} the {adj} {noun}?",
    "If the {noun} is {adj}, we can {verb} it {adv}.",
    "{name} would like to {verb} a {adj} {noun} for the {place}.",
    "Everyone in the {place} saw the {adj} {noun}.",
    "We should {adv} {verb} the {noun2} before we {verb2} the {noun}.",
    "The {adj} {noun} belongs to {name}, who works at the {place}.",
    "Tell {name} that the {noun} is in the {place}.",
    "Could someone {verb} this {adj} {noun} {time}?",
)
# Digits and amounts, so that text normalization downstream has work to do.
_DIGIT_TEMPLATES = (
    "Please bring {count} {noun}s to the {place}.",
    "The {adj} {noun} costs {price} at the {place}.",
    "Meet {name} at the {place} at {clock} {time}.",
    "We counted {count} {noun}s in the {place}.",
    "{name} paid {price} for {count} {noun}s.",
    "Room {room} is next to the {place}.",
)


@dataclass(frozen=True)
class Utterance:
    """One manifest line: what was spoken, by which voice, under which condition."""

    audio: str
    ref_text: str
    condition: str
    voice: str
    rate_wpm: int
    snr_db: float | None
    labeled: bool

    def to_json(self) -> str:
        """The manifest line; ``text`` only when labeled, ``ref_text`` always."""
        record = {k: v for k, v in asdict(self).items() if k != "labeled"}
        record.update(speaker=self.voice, language="en")
        if self.labeled:
            record["text"] = self.ref_text
        return json.dumps(record, sort_keys=True)


def _vocabulary() -> dict[str, tuple[str, ...]]:
    """Slot name to words (``_`` joins multi-word phrases), plus second-slot copies."""
    words = {
        slot: tuple(w.replace("_", " ") for w in text.split()) for slot, text in _WORDS.items()
    }
    for slot in ("name", "noun", "adj", "verb"):
        words[f"{slot}2"] = words[slot]
    return words


_VOCABULARY = _vocabulary()


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The generator for one item of one stream, independent of every other item."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, index)))


def _pick(rng: np.random.Generator, options: Sequence):
    """One element of ``options``, drawn uniformly."""
    return options[int(rng.integers(len(options)))]


def _sentence(rng: np.random.Generator, digits: bool) -> str:
    """Fill one template; every slot is drawn so the draw count is fixed per template kind."""
    slots = {slot: _pick(rng, words) for slot, words in _VOCABULARY.items()}
    slots.update(
        count=int(rng.integers(2, 100)),
        price=f"${int(rng.integers(1, 100))}.{int(rng.integers(0, 100)):02d}",
        clock=f"{int(rng.integers(1, 13))}:{5 * int(rng.integers(0, 12)):02d}",
        room=int(rng.integers(100, 1000)),
    )
    text = _pick(rng, _DIGIT_TEMPLATES if digits else _TEMPLATES).format(**slots)
    text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)
    return text[0].upper() + text[1:]


def make_text(rng: np.random.Generator) -> str:
    """A sentence, sometimes two; about one in twenty carries digits or an amount."""
    if rng.random() < DIGIT_SHARE:
        return _sentence(rng, digits=True)
    sentences = 2 if rng.random() < SECOND_SENTENCE_SHARE else 1
    return " ".join(_sentence(rng, digits=False) for _ in range(sentences))


def _voice(rng: np.random.Generator) -> str:
    """A base English voice, with a speaker variant most of the time."""
    base, variant = _pick(rng, BASE_VOICES), _pick(rng, VARIANTS)
    return f"{base}+{variant}" if variant else base


def _speak_in_length(rng: np.random.Generator, voice: str, rate_wpm: int) -> tuple[str, np.ndarray]:
    """Draw sentences until one lasts between 1.5 and 8 seconds at this voice and rate."""
    pitch = int(rng.integers(PITCH[0], PITCH[1] + 1))
    for _ in range(MAX_TEXT_DRAWS):
        text = make_text(rng)
        audio, sample_rate = speak(text, voice=voice, rate_wpm=rate_wpm, pitch=pitch)
        if SECONDS[0] <= len(audio) / sample_rate <= SECONDS[1]:
            return text, audio
    raise RuntimeError(f"no sentence of {SECONDS} seconds in {MAX_TEXT_DRAWS} draws for {voice}")


def make_condition(
    audio: np.ndarray,
    sample_rate: int,
    condition: str,
    snr_db: float | None,
    rng: np.random.Generator,
    babble_bank: Sequence[np.ndarray] = (),
) -> tuple[np.ndarray, int]:
    """Apply one of `CONDITIONS` to clean speech; return the new audio and its rate.

    ``snr_db`` is required for white, babble and hum and ignored otherwise. ``babble_bank``
    holds other clean utterances at ``sample_rate``; babble mixes 3-6 of them. Telephone
    returns 8 kHz audio. The result never clips: a uniform gain keeps the SNR.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}; got {condition!r}")
    if condition in NOISY_CONDITIONS and snr_db is None:
        raise ValueError(f"condition {condition!r} needs snr_db")
    if condition == "telephone":
        return acoustics.telephone(audio, sample_rate)
    if condition == "reverb":
        rt60_s = float(_pick(rng, RT60S_S))
        wet = acoustics.reverberate(audio, sample_rate, rt60_s, rng)
        return acoustics.limit_peak(wet), sample_rate
    if condition == "clean":
        return audio.astype(np.float32), sample_rate
    if condition == "white":
        noise = acoustics.white_noise(len(audio), rng)
    elif condition == "hum":
        noise = acoustics.hum_noise(len(audio), sample_rate, rng)
    else:
        talkers = int(rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1))
        noise = acoustics.babble_noise(len(audio), babble_bank, talkers, rng)
    return acoustics.limit_peak(acoustics.mix_at_snr(audio, noise, snr_db)), sample_rate


def babble_bank(seed: int, size: int = BABBLE_BANK_SIZE) -> list[np.ndarray]:
    """Clean utterances that only ever serve as background talkers."""
    bank = []
    for index in range(size):
        rng = _rng(seed, _BABBLE, index)
        voice, rate_wpm = _voice(rng), int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1))
        bank.append(_speak_in_length(rng, voice, rate_wpm)[1])
    return bank


def _plan(
    seed: int, utterances: int, labeled_fraction: float, target_condition: str, target_share: float
) -> tuple[list[str], np.ndarray]:
    """Pool conditions (the target's share exact, the others in turn) and the labeled mask."""
    rng = _rng(seed, _PLAN, 0)
    n_target = round(utterances * target_share)
    others = [c for c in CONDITIONS if c != target_condition]
    conditions = [target_condition] * n_target
    conditions += [others[i % len(others)] for i in range(utterances - n_target)]
    conditions = [conditions[i] for i in rng.permutation(utterances)]
    labeled = np.zeros(utterances, dtype=bool)
    labeled[rng.permutation(utterances)[: round(utterances * labeled_fraction)]] = True
    return conditions, labeled


def _write_flac(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit FLAC, quantized here so the bytes do not depend on libsndfile's conversion."""
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    with io.local_temporary(path) as temporary:
        soundfile.write(temporary, pcm, sample_rate, format="FLAC", subtype="PCM_16")


def _make_utterance(
    out_dir: Path,
    name: str,
    rng: np.random.Generator,
    condition: str,
    labeled: bool,
    bank: Sequence[np.ndarray],
) -> tuple[Utterance, float]:
    """Speak, degrade and write one utterance; return its manifest record and seconds."""
    voice, rate_wpm = _voice(rng), int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1))
    text, clean = _speak_in_length(rng, voice, rate_wpm)
    snr_db = float(_pick(rng, SNRS_DB)) if condition in NOISY_CONDITIONS else None
    audio, sample_rate = make_condition(clean, SAMPLE_RATE, condition, snr_db, rng, bank)
    relative = f"audio/{name}.flac"
    _write_flac(out_dir / relative, audio, sample_rate)
    record = Utterance(relative, text, condition, voice, rate_wpm, snr_db, labeled)
    return record, len(audio) / sample_rate


def _write_manifest(path: Path, records: Sequence[Utterance]) -> None:
    """JSONL, one sorted-key object a line, written under a temporary name then renamed."""
    with io.local_temporary(path) as temporary:
        Path(temporary).write_text("".join(record.to_json() + "\n" for record in records))


def _summary(path: Path, records: Sequence[Utterance], seconds: float) -> dict:
    """Counts a CLI can print and a test can check."""
    return {
        "manifest": str(path),
        "utterances": len(records),
        "labeled": sum(r.labeled for r in records),
        "seconds": round(seconds, 3),
        "conditions": dict(sorted(Counter(r.condition for r in records).items())),
    }


def _check_count(name: str, value: int, minimum: int) -> None:
    """Integers only (not bools), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_fraction(name: str, value: float, upper_open: bool = False) -> None:
    """A number in [0, 1], or [0, 1) when ``upper_open``."""
    upper = "1)" if upper_open else "1]"
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not (0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a number in [0, {upper}, got {value!r}")


def _validate(
    utterances: int,
    seed: int,
    labeled_fraction: float,
    target_condition: str,
    target_utterances: int,
    share: float,
) -> None:
    """Fail before any work, naming the argument and what it accepts."""
    _check_count("utterances", utterances, 1)
    _check_count("seed", seed, 0)
    _check_count("target_utterances", target_utterances, 1)
    _check_fraction("labeled_fraction", labeled_fraction)
    _check_fraction("target_share", share, upper_open=True)
    if target_condition not in CONDITIONS:
        raise ValueError(
            f"target_condition must be one of {', '.join(CONDITIONS)}; got {target_condition!r}"
        )


def synthesize(
    out_dir: str | os.PathLike[str],
    *,
    utterances: int = 200,
    seed: int = 0,
    labeled_fraction: float = 0.5,
    target_condition: str = "telephone",
    target_utterances: int = 40,
    target_share: float = 0.12,
) -> dict:
    """Write the demo corpus to local folder ``out_dir``; return counts, seconds and paths.

    ``out_dir/pool.jsonl``: ``utterances`` lines in mixed conditions, ``target_share`` of them in
    ``target_condition`` and ``labeled_fraction`` with a ``text``. ``out_dir/target.jsonl``:
    ``target_utterances`` lines, all ``target_condition``, all labeled. Audio goes to
    ``out_dir/audio/`` as FLAC. Manifests are written last, so a finished run is one whose
    manifests exist; existing manifests are removed first.
    """
    _validate(utterances, seed, labeled_fraction, target_condition, target_utterances, target_share)
    root = Path(out_dir)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    pool_path, target_path = root / "pool.jsonl", root / "target.jsonl"
    for stale in (pool_path, target_path):
        stale.unlink(missing_ok=True)

    bank = babble_bank(seed)
    conditions, labeled = _plan(seed, utterances, labeled_fraction, target_condition, target_share)
    pool = [
        _make_utterance(
            root, f"pool-{i:06d}", _rng(seed, _POOL, i), conditions[i], bool(labeled[i]), bank
        )
        for i in range(utterances)
    ]
    target = [
        _make_utterance(
            root, f"target-{i:06d}", _rng(seed, _TARGET, i), target_condition, True, bank
        )
        for i in range(target_utterances)
    ]
    _write_manifest(target_path, [record for record, _ in target])
    _write_manifest(pool_path, [record for record, _ in pool])
    return {
        "out_dir": str(root),
        "audio_dir": str(root / "audio"),
        "pool": _summary(pool_path, [r for r, _ in pool], sum(s for _, s in pool)),
        "target": _summary(target_path, [r for r, _ in target], sum(s for _, s in target)),
    }


def write_long_recording(path: str | Path, minutes: float, sample_rate: int = 48_000) -> int:
    """A stereo FLAC recording of one sentence and 2 s of pause, repeated; returns the repeats.

    For streaming and memory checks: it is written block by block, so hours of audio never sit in
    memory here either, and every repeat holds the same 2+ s of speech.
    """
    import torch
    import torchaudio.functional

    voice, rate = speak("Please call the office before noon tomorrow.", "en-us", 150)
    clip = torchaudio.functional.resample(torch.from_numpy(voice), rate, sample_rate).numpy()
    unit = np.concatenate([clip, np.zeros(2 * sample_rate, dtype=np.float32)])
    stereo = np.stack([unit, unit * 0.8], axis=1)
    repeats = int(minutes * 60 * sample_rate // len(unit))
    with soundfile.SoundFile(path, "w", sample_rate, 2, format="FLAC") as sound:
        for _ in range(repeats):
            sound.write(stereo)
    return repeats
