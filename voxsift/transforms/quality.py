"""Quality metrics of every segment: estimated SNR, clipping, share of speech, speaking rate.

They are measurements, not filters: selection decides what to drop, from these columns. The SNR
estimate is WADA-SNR (Kim & Stern, Interspeech 2008), which needs no clean reference and no
noise-only stretch: it reads the SNR off the shape of the amplitude distribution, assuming
gamma-distributed speech in Gaussian noise. The same estimate drives the enhancement gate.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from voxsift.schema import SAMPLE_RATE, Segment, training_text
from voxsift.transforms.inference import SegmentHandler
from voxsift.transforms.settings import QualitySettings

WADA_RANGE_DB = (-20.0, 100.0)
_WADA_SAMPLES = 1 << 18
_SPEECH_SHAPE = 0.4
"""Gamma shape of clean speech amplitudes in WADA's model."""


@functools.cache
def _wada_table() -> tuple[np.ndarray, np.ndarray]:
    """G(SNR) = log E|z| - E log|z| of gamma speech plus Gaussian noise, per dB of SNR.

    Computed once by Monte Carlo with a fixed seed (the paper tabulates the same function), so
    every worker builds the identical table; made strictly increasing for interpolation.
    """
    rng = np.random.default_rng(0)
    speech = rng.gamma(_SPEECH_SHAPE, 1.0, _WADA_SAMPLES) * rng.choice([-1.0, 1.0], _WADA_SAMPLES)
    noise = rng.standard_normal(_WADA_SAMPLES)
    speech /= np.sqrt(np.mean(speech**2))
    noise /= np.sqrt(np.mean(noise**2))
    snrs = np.arange(WADA_RANGE_DB[0], WADA_RANGE_DB[1] + 1.0)
    values = np.array([_wada_statistic(speech + noise * 10 ** (-db / 20)) for db in snrs])
    values = np.maximum.accumulate(values) + np.arange(len(values)) * 1e-9
    return values, snrs


def _wada_statistic(audio: np.ndarray) -> float:
    magnitude = np.abs(audio.astype(np.float64))
    magnitude = np.maximum(magnitude / max(float(magnitude.max()), 1e-20), 1e-10)
    return float(np.log(magnitude.mean()) - np.log(magnitude).mean())


def wada_snr(audio: np.ndarray) -> float:
    """Estimated SNR in dB within [-20, 100].

    Speech with digital-silence gaps (synthesized, or gated) reads as the top of the range; an
    all-zero segment, which holds no speech at all, as the bottom.
    """
    if not np.any(audio):
        return WADA_RANGE_DB[0]
    values, snrs = _wada_table()
    return float(np.interp(_wada_statistic(audio), values, snrs))


def clipping_ratio(audio: np.ndarray, level: float) -> float:
    """Share of samples at ``level`` x the peak or above.

    Relative to the peak, not to full scale, because loudness normalization may have scaled a
    clipped recording down: its flattened tops still sit together at the new peak.
    """
    peak = float(np.max(np.abs(audio), initial=0.0))
    if peak < 1e-4:
        return 0.0
    return float(np.mean(np.abs(audio) >= level * peak))


def chars_per_second(text: str | None, seconds: float) -> float | None:
    """Speaking rate in non-space characters of the (spoken-form) text per second of audio."""
    if not text or seconds <= 0:
        return None
    return len("".join(text.split())) / seconds


class SileroVad:
    """silero-vad's packaged model behind a lock: its recurrent state cannot be shared mid-call."""

    def __init__(self, threshold: float):
        from silero_vad import get_speech_timestamps, load_silero_vad

        self._model = load_silero_vad()
        self._timestamps = get_speech_timestamps
        self._threshold = threshold
        self._lock = threading.Lock()

    def speech_ratio(self, audio: np.ndarray) -> float:
        """Share of the samples inside speech regions (no padding around them)."""
        import torch

        if len(audio) == 0:
            return 0.0
        with self._lock:
            regions = self._timestamps(
                torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)),
                self._model,
                threshold=self._threshold,
                sampling_rate=SAMPLE_RATE,
                speech_pad_ms=0,
            )
        return sum(r["end"] - r["start"] for r in regions) / len(audio)


class QualityHandler(SegmentHandler[SileroVad]):
    """Fills ``snr_est_db``, ``clipping_ratio``, ``speech_ratio`` and ``chars_per_second``.

    It runs after labeling and normalization so the speaking rate uses the spoken-form target.
    """

    step = "quality"

    def __init__(self, settings: QualitySettings):
        super().__init__(settings.batch_size)
        self._settings = settings

    def load_model(self) -> SileroVad:
        return SileroVad(self._settings.vad_threshold)

    def process_one(self, segment: Segment, model: SileroVad) -> Segment:
        audio = segment.audio
        spoken = training_text(segment)
        return segment.with_fields(
            snr_est_db=wada_snr(audio),
            clipping_ratio=clipping_ratio(audio, self._settings.clip_level),
            speech_ratio=model.speech_ratio(audio),
            chars_per_second=chars_per_second(spoken, segment.duration),
        )
