"""Helpers of the tests on real weights and real speech: availability, prompts, noise, SI-SDR.

The model packages (requirements/models.txt) and Debian's Asterisk prompts (.ci/run) are
installed by the project's own setup; on a machine without them the tests are skipped, except
under CI, where a missing install is a failure rather than a silent skip.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from voxsift import models, prompts
from voxsift.audio import load_mono_16k
from voxsift.schema import Segment
from voxsift.transforms.label import LabelHandler
from voxsift.transforms.settings import LabelSettings


def require(condition: bool, what: str) -> None:
    """Skip without ``what`` on a developer machine; fail under CI, which installs everything."""
    if condition:
        return
    message = f"{what} is not installed (make setup; .ci/run installs the Debian packages)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def require_whisper(name: str) -> None:
    require(models.packaged_model_installed(models.WHISPER_MODELS[name]), f"Whisper {name}")


def require_prompts(*languages: str) -> None:
    for language in languages:
        require(prompts.available(language), f"asterisk-core-sounds-{language}")


def prompt_audio(prompt: prompts.Prompt) -> np.ndarray:
    return load_mono_16k(prompt.path.read_bytes())[0]


def white_noise_copy(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """``audio`` plus white noise at ``snr_db`` (signal power over noise power)."""
    noise = np.random.default_rng(seed).standard_normal(len(audio))
    scale = np.sqrt(np.mean(audio.astype(np.float64) ** 2) / 10 ** (snr_db / 10))
    return (audio + scale * noise).astype(np.float32)


def pink_noise_copy(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """``audio`` plus 1/f noise at ``snr_db``."""
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(len(audio)))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, len(audio))
    scale = np.sqrt(
        np.mean(audio.astype(np.float64) ** 2) / np.mean(noise**2) / 10 ** (snr_db / 10)
    )
    return (audio + scale * noise).astype(np.float32)


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB."""
    reference = reference.astype(np.float64) - reference.mean()
    estimate = estimate.astype(np.float64) - estimate.mean()
    target = np.dot(estimate, reference) / np.dot(reference, reference) * reference
    return float(10 * np.log10(np.sum(target**2) / np.sum((estimate - target) ** 2)))


def label(handler: LabelHandler, model, segments: list[Segment], batch: int) -> list[Segment]:
    """The handler's labeling, batch by batch, as RunInference would call it."""
    out: list[Segment] = []
    for start in range(0, len(segments), batch):
        out += handler.process_batch(segments[start : start + batch], model)
    return out


def labeler(teacher: str, **settings) -> tuple[LabelHandler, object]:
    handler = LabelHandler(LabelSettings(teacher=teacher, relabel_transcribed=True, **settings))
    return handler, handler.load_model()
