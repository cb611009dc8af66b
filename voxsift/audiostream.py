"""Long recordings, block by block: decode, downmix and resample without holding the file.

A three-hour recording decoded whole at 44.1 kHz stereo is several GB of float32; streamed, the
curate stage holds one block plus one VAD window, whatever the file's length. The resampler keeps
enough input on either side of each block that the joined output equals a whole-file resample up
to float rounding, so streaming does not change what the segmenter hears.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO

import numpy as np
import soundfile

from voxsift.audio import (
    UNKNOWN_FRAMES,
    AudioError,
    check_rate,
    describe_libsndfile_error,
    open_sound,
    resample_16k,
)
from voxsift.schema import SAMPLE_RATE

Opener = Callable[[], AbstractContextManager[BinaryIO]]
_CONTEXT_SAMPLES = 2048
"""Input samples of context on each side of a block: wider than the resampler's sinc reaches
(at most 146 input samples, at 384 kHz)."""


class StreamResampler:
    """Resample consecutive blocks to 16 kHz as if the whole signal were resampled at once."""

    def __init__(self, rate: int):
        self._rate = rate
        divisor = math.gcd(rate, SAMPLE_RATE)
        self._step_in, self._step_out = rate // divisor, SAMPLE_RATE // divisor
        self._context = self._step_in * math.ceil(_CONTEXT_SAMPLES / self._step_in)
        self._buffer = np.empty(0, dtype=np.float32)
        self._left = 0

    def _resample(self, samples: np.ndarray) -> np.ndarray:
        return samples if self._rate == SAMPLE_RATE else resample_16k(samples, self._rate)

    def _out(self, n_in: int) -> int:
        return n_in // self._step_in * self._step_out

    def feed(self, block: np.ndarray) -> np.ndarray:
        self._buffer = np.concatenate([self._buffer, block.astype(np.float32, copy=False)])
        ready = (len(self._buffer) - self._context - self._left) // self._step_in * self._step_in
        if ready <= 0:
            return np.empty(0, dtype=np.float32)
        window = self._buffer[: self._left + ready + self._context]
        out = self._resample(window)[self._out(self._left) : self._out(self._left + ready)]
        self._buffer = self._buffer[self._left + ready - self._context :]
        self._left = self._context
        return out

    def finish(self) -> np.ndarray:
        if not len(self._buffer):
            return np.empty(0, dtype=np.float32)
        out = self._resample(self._buffer)[self._out(self._left) :]
        self._buffer = np.empty(0, dtype=np.float32)
        return out


def _blocks(handle: BinaryIO, block_seconds: float) -> Iterator[tuple[np.ndarray, int]]:
    """Decoded mono blocks at the file's rate; raises AudioError when decoding fails."""
    try:
        with open_sound(handle) as sound:
            rate = sound.samplerate
            check_rate(rate)
            frames = max(1, int(block_seconds * rate))
            while len(block := sound.read(frames, dtype="float32", always_2d=True)):
                if not np.isfinite(block).all():
                    raise AudioError("non_finite_samples", "the audio holds NaN or inf samples")
                yield block.mean(axis=1), rate
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        if isinstance(error, AudioError):
            raise
        raise AudioError("undecodable", describe_libsndfile_error(error)) from error


def stream_mono_16k(open_file: Opener, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """16 kHz mono blocks of a file opened by ``open_file``; an empty file raises AudioError."""
    resampler: StreamResampler | None = None
    with open_file() as handle:
        for block, rate in _blocks(handle, block_seconds):
            resampler = resampler or StreamResampler(rate)
            if len(out := resampler.feed(block)):
                yield out
    if resampler is None:
        raise AudioError("no_audio", "the file decodes to zero samples")
    if len(tail := resampler.finish()):
        yield tail


def header_seconds(open_file: Opener) -> float | None:
    """The length the header promises, without decoding; None when the header leaves it unknown
    (a FLAC whose STREAMINFO says total_samples = 0); raises AudioError if unreadable."""
    try:
        with open_file() as handle, soundfile.SoundFile(handle) as sound:
            if sound.frames >= UNKNOWN_FRAMES:
                return None
            return sound.frames / sound.samplerate if sound.samplerate else 0.0
    except OSError as error:
        raise AudioError("unreadable", f"cannot read the file: {error}") from error
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioError("undecodable", describe_libsndfile_error(error)) from error


def validate(open_file: Opener, block_seconds: float = 30.0) -> float:
    """Decode a whole file block by block without keeping it; returns its length in seconds.

    Run before segmenting a long file so that a file corrupt near its end is rejected whole
    instead of having its first hours kept.
    """
    seconds = 0.0
    with open_file() as handle:
        for block, rate in _blocks(handle, block_seconds):
            seconds += len(block) / rate
    if not seconds:
        raise AudioError("no_audio", "the file decodes to zero samples")
    return seconds
