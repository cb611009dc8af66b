"""Decode, downmix, resample, loudness-normalize and FLAC-encode audio.

Audio enters as bytes in any container libsndfile reads and leaves as 16 kHz mono FLAC. Each
failure raises :class:`AudioError` with a snake_case reason, which the curate stage turns into a
reject row.
"""

from __future__ import annotations

import functools
import io
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


class AudioError(InputError):
    """Audio that cannot be used, with a reason code for the reject row."""


def describe_libsndfile_error(error: Exception) -> str:
    """libsndfile's message without the memory address of our buffer object."""
    return f"libsndfile cannot decode it: {_BUFFER_REPR.sub('the file', str(error))}"


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Bytes to (frames × channels float32, sample rate); raises AudioError on anything unusable."""
    if not data:
        raise AudioError("empty_file", "the file has zero bytes")
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError("undecodable", describe_libsndfile_error(error)) from error
    if samples.shape[0] == 0:
        raise AudioError("no_audio", "the file decodes to zero samples")
    if rate < MIN_SOURCE_RATE:
        raise AudioError("bad_sample_rate", f"sample rate {rate} Hz is below {MIN_SOURCE_RATE} Hz")
    if not np.isfinite(samples).all():
        raise AudioError("non_finite_samples", "the audio holds NaN or infinite samples")
    return samples, rate


def to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Average the channels and resample to 16 kHz with torchaudio's windowed-sinc resampler."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    if rate == SAMPLE_RATE:
        return np.ascontiguousarray(mono, dtype=np.float32)
    resampled = torchaudio.functional.resample(torch.from_numpy(mono), rate, SAMPLE_RATE)
    return resampled.numpy().astype(np.float32, copy=False)


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
