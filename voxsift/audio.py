"""Decode, downmix, resample, loudness-normalize and FLAC-encode audio.

Audio enters as bytes in any container libsndfile reads and leaves as 16 kHz mono FLAC. Each
failure raises :class:`AudioError` with a snake_case reason, which the curate stage turns into a
reject row.

Resampling is torchaudio's windowed sinc (Hann window, 6 zero crossings, rolloff 0.99). torchaudio
builds a dense kernel of (16000 / g) x (rate / g) taps, g = gcd(rate, 16000): small for the
common rates (8, 11.025, 22.05, 24, 32, 44.1, 48 kHz ...), but 16000 x 48001 for a header that
says 48001 Hz. Rates whose dense kernel would pass ``DENSE_KERNEL_LIMIT`` are resampled with the
same filter stored compactly, one short row of taps per output phase, in bounded chunks.
"""

from __future__ import annotations

import functools
import io
import math
import re

import numpy as np
import pyloudnorm
import soundfile
import torch
import torchaudio.functional

from voxsift.errors import InputError
from voxsift.schema import SAMPLE_RATE

_BUFFER_REPR = re.compile(r"<_io\.\w+ (?:name=\S+ )?object at 0x[0-9a-f]+>|<_io\.\w+ name=[^>]*>")
MIN_SOURCE_RATE = 4_000
"""Below this a header's sample rate cannot carry speech; such files are rejected, not resampled."""
MAX_SOURCE_RATE = 384_000
"""The highest rate studio converters record at; a header claiming more is rejected."""
UNKNOWN_FRAMES = 2**63 - 1
"""libsndfile's frame count for a stream whose header leaves the length unknown (SF_COUNT_MAX)."""
DENSE_KERNEL_LIMIT = 1 << 22
"""Taps of torchaudio's dense kernel above which the compact resampler is used instead."""
_LOWPASS_WIDTH, _ROLLOFF = 6, 0.99
"""torchaudio's defaults: zero crossings of the sinc on each side, and the cutoff's rolloff."""
_CHUNK_ELEMENTS = 1 << 18
"""Taps gathered at once by the compact resampler (a few MB whatever the rate or the length)."""
_BLOCK_FRAMES = 1 << 16


class AudioError(InputError):
    """Audio that cannot be used, with a reason code for the reject row."""


def describe_libsndfile_error(error: Exception) -> str:
    """libsndfile's message without the memory address of our buffer object."""
    return f"libsndfile cannot decode it: {_BUFFER_REPR.sub('the file', str(error))}"


def check_rate(rate: int) -> None:
    if rate < MIN_SOURCE_RATE:
        raise AudioError("bad_sample_rate", f"sample rate {rate} Hz is below {MIN_SOURCE_RATE} Hz")
    if rate > MAX_SOURCE_RATE:
        raise AudioError("bad_sample_rate", f"sample rate {rate} Hz is above {MAX_SOURCE_RATE} Hz")


def open_sound(handle) -> soundfile.SoundFile:
    """A SoundFile on ``handle``; one whose header leaves the length unknown (a FLAC whose
    STREAMINFO says total_samples = 0) is read front to back.

    soundfile seeks after every read to track its position, and libsndfile cannot seek in a
    stream of unknown length; marked unseekable, soundfile reads it sequentially to the end.
    """
    sound = soundfile.SoundFile(handle)
    if sound.frames >= UNKNOWN_FRAMES:
        sound._info.seekable = 0
    return sound


def read_all(sound: soundfile.SoundFile) -> np.ndarray:
    """Every frame as float32 (frames x channels), in blocks when the length is unknown."""
    if sound.frames < UNKNOWN_FRAMES:
        return sound.read(dtype="float32", always_2d=True)
    blocks = []
    while len(block := sound.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)):
        blocks.append(block)
    return np.concatenate(blocks) if blocks else np.zeros((0, sound.channels), np.float32)


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Bytes to (frames × channels float32, sample rate); raises AudioError on anything unusable."""
    if not data:
        raise AudioError("empty_file", "the file has zero bytes")
    try:
        with open_sound(io.BytesIO(data)) as sound:
            rate = sound.samplerate
            check_rate(rate)
            samples = read_all(sound)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError("undecodable", describe_libsndfile_error(error)) from error
    if samples.shape[0] == 0:
        raise AudioError("no_audio", "the file decodes to zero samples")
    if not np.isfinite(samples).all():
        raise AudioError("non_finite_samples", "the audio holds NaN or infinite samples")
    return samples, rate


def to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Average the channels and resample to 16 kHz."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    return resample_16k(mono, rate)


def resample_16k(mono: np.ndarray, rate: int) -> np.ndarray:
    """Mono float32 at ``rate`` to 16 kHz, in memory bounded whatever the rate."""
    if rate == SAMPLE_RATE:
        return np.ascontiguousarray(mono, dtype=np.float32)
    orig, new = _reduced(rate)
    if new * (2 * _width(orig, new) + orig) > DENSE_KERNEL_LIMIT:
        return _compact_resample(np.asarray(mono, dtype=np.float32), orig, new)
    resampled = torchaudio.functional.resample(torch.from_numpy(mono), rate, SAMPLE_RATE)
    return resampled.numpy().astype(np.float32, copy=False)


def _reduced(rate: int) -> tuple[int, int]:
    divisor = math.gcd(rate, SAMPLE_RATE)
    return rate // divisor, SAMPLE_RATE // divisor


def _width(orig: int, new: int) -> int:
    """Input samples the filter reaches on each side of an output (torchaudio's ``width``)."""
    return math.ceil(_LOWPASS_WIDTH * orig / (min(orig, new) * _ROLLOFF))


@functools.lru_cache(maxsize=2)
def _phase_taps(orig: int, new: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of the ``new`` output phases: the first input sample it reads (from the start of
    its block of ``orig`` inputs) and its taps, torchaudio's kernel without the zeros."""
    base, width = min(orig, new) * _ROLLOFF, _width(orig, new)
    phases = np.arange(new)
    first = np.ceil(phases * orig / new - width).astype(np.int64)
    taps = np.empty((new, 2 * width + 1), dtype=np.float32)
    step = max(1, _CHUNK_ELEMENTS // taps.shape[1])
    for lo in range(0, new, step):
        rows = slice(lo, lo + step)
        offsets = first[rows, None] + np.arange(taps.shape[1])
        t = np.clip((offsets / orig - phases[rows, None] / new) * base, -6.0, 6.0)
        window = np.cos(t * math.pi / _LOWPASS_WIDTH / 2) ** 2
        t *= math.pi
        sinc = np.sin(t) / np.where(t == 0, 1.0, t)
        taps[rows] = np.where(t == 0, 1.0, sinc) * window * (base / orig)
    return first, taps


def _compact_resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    """What torchaudio's resample gives for ``orig`` → ``new`` (reduced), one chunk at a time."""
    first, taps = _phase_taps(orig, new)
    width, count = _width(orig, new), math.ceil(new * len(x) / orig)
    padded = np.concatenate([np.zeros(width, np.float32), x, np.zeros(width + 1, np.float32)])
    span = np.arange(taps.shape[1])
    out = np.empty(count, dtype=np.float32)
    step = max(1, _CHUNK_ELEMENTS // taps.shape[1])
    for lo in range(0, count, step):
        block, phase = np.divmod(np.arange(lo, min(lo + step, count)), new)
        gathered = padded[(block * orig + first[phase] + width)[:, None] + span]
        out[lo : lo + len(phase)] = np.einsum("ij,ij->i", gathered, taps[phase])
    return out


def load_mono_16k(data: bytes) -> tuple[np.ndarray, int]:
    """Decode, downmix and resample in one step; returns the audio and its original rate."""
    samples, rate = decode(data)
    return to_mono_16k(samples, rate), rate


@functools.cache
def _meter() -> pyloudnorm.Meter:
    return pyloudnorm.Meter(SAMPLE_RATE)


def loudness_lufs(audio: np.ndarray) -> float:
    """Integrated loudness (ITU-R BS.1770); -inf for silence or clips shorter than one block."""
    if len(audio) < int(0.4 * SAMPLE_RATE):
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        return 20 * np.log10(rms) - 0.691 if rms > 0 else float("-inf")
    return float(_meter().integrated_loudness(audio.astype(np.float64)))


TARGET_LUFS = -23.0
"""EBU R128 programme loudness: curate's default ``loudness.target_lufs``."""
MAX_GAIN_DB = 30.0
"""Curate's default ``loudness.max_gain_db``: never amplify or cut by more."""


def normalize_loudness(
    audio: np.ndarray, target_lufs: float, max_gain_db: float, peak: float = 0.99
) -> tuple[np.ndarray, float, float]:
    """Scale towards target loudness without clipping; returns (audio, measured LUFS, gain dB)."""
    measured = loudness_lufs(audio)
    if not np.isfinite(measured):
        return audio, measured, 0.0
    gain_db = float(np.clip(target_lufs - measured, -max_gain_db, max_gain_db))
    top = float(np.max(np.abs(audio)))
    if top > 0:
        gain_db = min(gain_db, 20 * np.log10(peak / top))
    scaled = (audio * 10 ** (gain_db / 20)).astype(np.float32)
    return scaled, measured, gain_db


def encode_flac(audio: np.ndarray) -> bytes:
    """16-bit FLAC at 16 kHz; libsndfile's encoder is deterministic, so reruns give equal bytes."""
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def decode_flac(data: bytes) -> np.ndarray:
    """FLAC bytes written by :func:`encode_flac` back to float32 mono."""
    audio, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    if rate != SAMPLE_RATE:
        raise AudioError("bad_sample_rate", f"expected {SAMPLE_RATE} Hz FLAC, got {rate} Hz")
    return audio
