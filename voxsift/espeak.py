"""A small ctypes binding to espeak-ng, the speech synthesizer behind the demo corpus.

The library and its voice data come from the ``espeakng-loader`` wheel, so nothing needs to be
installed system-wide. espeak-ng keeps synthesis state in C globals (pitch flutter phase, gain
control, echo buffers) that neither ``espeak_Terminate`` nor a second ``espeak_Initialize``
resets, so the same text spoken twice in one process comes out a few samples different. The demo
corpus must be byte-identical run to run and independent of utterance order, so every call loads a
pristine copy of the library, speaks, and unloads it again (about 7 ms). A lock serialises calls:
the C library is not re-entrant.
"""

from __future__ import annotations

import _ctypes
import ctypes
import difflib
import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import espeakng_loader
import numpy as np

SAMPLE_RATE = 22050
"""espeak-ng's native output rate; `speak` checks the library agrees."""

MIN_RATE_WPM, MAX_RATE_WPM = 80, 450
MIN_PITCH, MAX_PITCH = 0, 100

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_OK = 0
_PARAM_RATE = 1
_PARAM_PITCH = 3

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _Voice(ctypes.Structure):
    """espeak_VOICE, as returned by espeak_ListVoices."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class EspeakError(RuntimeError):
    """espeak-ng failed to initialise or to synthesize."""


class UnknownVoiceError(EspeakError, ValueError):
    """The voice or variant name is not in the shipped espeak-ng data."""


_lock = threading.Lock()


def _new_lock_after_fork() -> None:
    """A child forked while another thread held the lock would otherwise deadlock on it."""
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_after_fork)


def data_path() -> Path:
    """The espeak-ng-data folder shipped inside the espeakng-loader wheel."""
    return Path(espeakng_loader.get_data_path())


@contextmanager
def _fresh_library() -> Iterator[ctypes.CDLL]:
    """Load, initialise and finally unload espeak-ng, so each use starts from pristine globals.

    Unloading works only while nothing else in the process holds the same library open; if
    something does, calls still work but lose the byte-exact repeatability.
    """
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    try:
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path()).encode(), _INITIALIZE_DONT_EXIT
        )
        if rate != SAMPLE_RATE:
            raise EspeakError(f"espeak-ng initialisation returned {rate}, expected {SAMPLE_RATE}")
        try:
            yield lib
        finally:
            lib.espeak_Terminate()
    finally:
        _ctypes.dlclose(lib._handle)


def _voice_names(lib: ctypes.CDLL) -> list[str]:
    """Every voice name espeak-ng accepts: language identifiers such as ``en-us`` and names."""
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    voices = lib.espeak_ListVoices(None)
    names: set[str] = set()
    for i in itertools.count():  # a NULL pointer ends the list
        if not voices[i]:
            break
        voice = voices[i].contents
        names.add(voice.name.decode())
        # `languages` is a run of (priority byte, NUL-terminated name) ended by a zero byte.
        address = voice.languages
        while ctypes.string_at(address, 1) != b"\0":
            language = ctypes.string_at(address + 1)
            names.add(language.decode())
            address += len(language) + 2
    return sorted(names)


@cache
def list_variants() -> tuple[str, ...]:
    """Names usable after ``+`` in a voice name, e.g. ``f3`` in ``en-us+f3``."""
    return tuple(sorted(p.name for p in (data_path() / "voices" / "!v").iterdir()))


def _unknown_voice(voice: str, part: str, known: tuple[str, ...]) -> UnknownVoiceError:
    """An error that names the voice and suggests the closest known names."""
    close = difflib.get_close_matches(part, known, n=5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return UnknownVoiceError(f"unknown espeak-ng voice {voice!r}: {part!r} not found{hint}")


def _set_voice(lib: ctypes.CDLL, voice: str) -> None:
    """Select ``voice``; espeak-ng silently ignores unknown variants, so check those by file."""
    base, _, variant = voice.partition("+")
    if variant and variant not in list_variants():
        raise _unknown_voice(voice, variant, list_variants())
    if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
        raise _unknown_voice(voice, base, tuple(_voice_names(lib)))


def _check_range(name: str, value: int, low: int, high: int) -> None:
    """Reject values espeak-ng would silently clamp."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def _synthesize(lib: ctypes.CDLL, text: str) -> np.ndarray:
    """Speak ``text`` with the current settings and collect the int16 samples."""
    chunks: list[np.ndarray] = []

    def collect(wav: ctypes.Array, count: int, _events: int) -> int:
        if wav and count > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0 = carry on synthesizing

    callback = _SynthCallback(collect)  # kept referenced until espeak_Synth returns
    lib.espeak_SetSynthCallback(callback)
    encoded = text.encode()
    status = lib.espeak_Synth(
        encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
    )
    if status != _EE_OK:
        raise EspeakError(f"espeak_Synth failed with status {status} for text {text[:60]!r}")
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def speak(
    text: str, voice: str = "en-us", rate_wpm: int = 160, pitch: int = 50
) -> tuple[np.ndarray, int]:
    """Synthesize ``text``; return mono float32 samples in [-1, 1] and the rate (22050 Hz).

    ``voice`` is an espeak-ng voice name with an optional variant, e.g. ``en-gb-x-rp+f3``;
    ``rate_wpm`` is words per minute (80-450) and ``pitch`` espeak's 0-100 scale (50 = default).
    The same arguments give the same samples, whatever was spoken before.
    """
    if not text.strip():
        raise ValueError("text must not be empty")
    _check_range("rate_wpm", rate_wpm, MIN_RATE_WPM, MAX_RATE_WPM)
    _check_range("pitch", pitch, MIN_PITCH, MAX_PITCH)
    with _lock, _fresh_library() as lib:
        _set_voice(lib, voice)
        lib.espeak_SetParameter(_PARAM_RATE, int(rate_wpm), 0)
        lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        lib.espeak_ng_SetRandSeed(ctypes.c_long(0))  # breathy variants draw noise
        samples = _synthesize(lib, text)
    return (samples.astype(np.float32) / 32768.0), SAMPLE_RATE
