"""Real recorded speech with transcripts: the Asterisk telephone prompts Debian packages.

``asterisk-core-sounds-LANG-wav`` holds the prompts (8 kHz mono WAV, one professional speaker per
language) under ``/usr/share/asterisk/sounds/LANG/``; ``asterisk-core-sounds-LANG`` holds their
transcripts in ``/usr/share/doc/asterisk-core-sounds-LANG/core-sounds-LANG.txt.gz``, one
``name: text`` line per prompt, where text in brackets or parentheses describes a tone, a symbol
or a silence rather than speech, and the English keypad symbols ``*`` and ``#`` are spoken as
"star" and "pound". English, Spanish and French are packaged (``.ci/run`` installs them). The
tests, the benchmark and the demo read them through :func:`load_prompts`; ``part`` splits them by
a hash of the name into two disjoint halves, so a figure can be measured on prompts the tests
never used.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SOUNDS = Path("/usr/share/asterisk/sounds")
DOCS = Path("/usr/share/doc")
LANGUAGES = ("en", "es", "fr")
_NOT_SPOKEN = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_SPOKEN_SYMBOLS = {"en": {"*": " star ", "#": " pound "}}
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Prompt:
    name: str
    language: str
    path: Path
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())


def transcripts_path(language: str) -> Path:
    return DOCS / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"


def available(language: str = "en") -> bool:
    """Whether the prompts and transcripts of ``language`` are installed."""
    return transcripts_path(language).is_file() and (SOUNDS / language).is_dir()


def parse_transcripts(text: str, language: str = "en") -> dict[str, str]:
    """``name: text`` lines → {name: spoken text}; what is not spoken removed, symbols spelled."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith(";") or ":" not in line:
            continue
        name, _, spoken = line.partition(":")
        spoken = _NOT_SPOKEN.sub(" ", spoken)
        for symbol, word in _SPOKEN_SYMBOLS.get(language, {}).items():
            spoken = spoken.replace(symbol, word)
        spoken = _SPACES.sub(" ", spoken).strip()
        if name.strip() and spoken:
            out[name.strip()] = spoken
    return out


def _lasts(path: Path, low: float, high: float | None) -> bool:
    import soundfile

    seconds = soundfile.info(str(path)).duration
    return seconds >= low and (high is None or seconds <= high)


def _part(name: str) -> str:
    return "a" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "b"


def load_prompts(
    language: str = "en",
    *,
    min_words: int = 1,
    part: Literal["a", "b"] | None = None,
    limit: int | None = None,
    min_seconds: float = 0.0,
    max_seconds: float | None = 30.0,
) -> list[Prompt]:
    """The prompts of ``language`` that have audio and speech in their transcript, by name.

    ``min_words`` drops shorter prompts (single digits and letters); ``part`` keeps one of two
    fixed, disjoint halves; ``min_seconds`` and ``max_seconds`` bound the duration (Whisper hears
    30 s at most); ``limit`` keeps that many, spread evenly over the sorted list.
    """
    with gzip.open(transcripts_path(language), "rt", encoding="utf-8", errors="replace") as f:
        transcripts = parse_transcripts(f.read(), language)
    prompts = [
        Prompt(name, language, SOUNDS / language / f"{name}.wav", text)
        for name, text in sorted(transcripts.items())
        if len(text.split()) >= min_words and (part is None or _part(name) == part)
    ]
    prompts = [p for p in prompts if p.path.is_file() and _lasts(p.path, min_seconds, max_seconds)]
    if limit is not None and len(prompts) > limit:
        step = len(prompts) / limit
        prompts = [prompts[int(i * step)] for i in range(limit)]
    return prompts
