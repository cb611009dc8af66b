"""Acoustic conditions for the demo corpus: noise at an SNR, a telephone channel, reverberation.

Pure functions over mono float32 numpy arrays. Every random choice comes from a caller's
`numpy.random.Generator`, so a condition is reproducible from the generator's seed. Resampling
goes through `torchaudio.functional.resample` only, the same resampler the pipeline uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchaudio.functional as taf
from scipy import signal

TELEPHONE_RATE = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
MU_LAW_CHANNELS = 256
MAINS_HZ = (50.0, 60.0)
HUM_HARMONICS = 6
PEAK_LIMIT = 0.99
DIRECT_TO_REVERB_DB = 0.0  # direct sound as loud as the whole tail: clearly reverberant


def power(audio: np.ndarray) -> float:
    """Mean power over the whole signal; SNRs here are utterance-level, silences included."""
    return float(np.mean(np.square(audio, dtype=np.float64)))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Add ``noise`` scaled so that power(speech) / power(scaled noise) is ``snr_db``."""
    if noise.shape != speech.shape:
        raise ValueError(f"noise shape {noise.shape} differs from speech shape {speech.shape}")
    speech_power, noise_power = power(speech), power(noise)
    if speech_power == 0.0 or noise_power == 0.0:
        raise ValueError("cannot set an SNR when the speech or the noise is silent")
    gain = np.sqrt(speech_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (speech + gain * noise).astype(np.float32)


def limit_peak(audio: np.ndarray, peak: float = PEAK_LIMIT) -> np.ndarray:
    """Scale the whole signal down if it would clip; a uniform gain leaves the SNR intact."""
    highest = float(np.max(np.abs(audio), initial=0.0))
    if highest <= peak:
        return audio.astype(np.float32)
    return (audio * (peak / highest)).astype(np.float32)


def white_noise(length: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise, unit variance."""
    return rng.standard_normal(length).astype(np.float32)


def _random_excerpt(audio: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` samples of ``audio`` from a random start, looping it when it is too short."""
    start = int(rng.integers(len(audio)))
    return np.resize(np.roll(audio, -start), length)


def babble_noise(
    length: int, bank: Sequence[np.ndarray], talkers: int, rng: np.random.Generator
) -> np.ndarray:
    """Several other talkers at equal loudness, each from a random offset of a bank utterance."""
    if talkers > len(bank):
        raise ValueError(f"babble needs {talkers} talkers but the bank holds {len(bank)}")
    chosen = rng.choice(len(bank), size=talkers, replace=False)
    babble = np.zeros(length, dtype=np.float64)
    for index in chosen:
        excerpt = _random_excerpt(bank[index], length, rng)
        babble += excerpt / np.sqrt(max(power(excerpt), 1e-12))
    return babble.astype(np.float32)


def hum_noise(length: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum: 50 or 60 Hz with harmonics falling off as 1/k, each at a random phase."""
    mains = float(rng.choice(MAINS_HZ))
    harmonics = np.arange(1, HUM_HARMONICS + 1)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=HUM_HARMONICS)
    t = np.arange(length) / sample_rate
    waves = np.sin(2.0 * np.pi * mains * np.outer(harmonics, t) + phases[:, None])
    return ((1.0 / harmonics) @ waves).astype(np.float32)


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample with torchaudio's windowed-sinc resampler."""
    if from_rate == to_rate:
        return audio.astype(np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    return taf.resample(tensor, from_rate, to_rate).numpy()


def telephone(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """A narrowband phone line: 300-3400 Hz band, 8 kHz sampling, 8-bit mu-law companding."""
    low, high = TELEPHONE_BAND_HZ
    sos = signal.butter(4, [low, high], btype="bandpass", fs=sample_rate, output="sos")
    banded = signal.sosfilt(sos, audio).astype(np.float32)
    narrow = np.clip(resample(banded, sample_rate, TELEPHONE_RATE), -1.0, 1.0)
    encoded = taf.mu_law_encoding(torch.from_numpy(narrow), MU_LAW_CHANNELS)
    decoded = taf.mu_law_decoding(encoded, MU_LAW_CHANNELS).numpy()
    return decoded.astype(np.float32), TELEPHONE_RATE


def synthetic_rir(sample_rate: int, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """A room impulse response: a unit direct path, then noise decaying 60 dB over ``rt60_s``."""
    if rt60_s <= 0:
        raise ValueError(f"rt60_s must be positive, got {rt60_s}")
    t = np.arange(max(int(rt60_s * sample_rate), 2)) / sample_rate
    tail = rng.standard_normal(len(t)) * np.exp(-np.log(1000.0) * t / rt60_s)  # 1000x = 60 dB
    tail *= 10.0 ** (-DIRECT_TO_REVERB_DB / 20.0) / np.sqrt(np.sum(np.square(tail[1:])))
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverberate(
    audio: np.ndarray, sample_rate: int, rt60_s: float, rng: np.random.Generator
) -> np.ndarray:
    """Convolve with a synthetic room; same length and loudness as the input."""
    rir = synthetic_rir(sample_rate, rt60_s, rng)
    wet = signal.fftconvolve(audio, rir)[: len(audio)]
    wet_power = power(wet)
    if wet_power == 0.0:
        return audio.astype(np.float32)
    return (wet * np.sqrt(power(audio) / wet_power)).astype(np.float32)
