"""The ONNX denoisers on their real packaged weights, on real speech with added noise.

DeepFilterNet3 (48 kHz, resampled around it) and GTCRN (16 kHz) on four English Asterisk prompts
with white and pink noise at 5 dB, scored by SI-SDR against the clean prompt; then through the
enhance step's handler and its SNR gate, as the curate stage runs them.
"""

from __future__ import annotations

import numpy as np
import pytest
from realspeech import (
    pink_noise_copy,
    prompt_audio,
    require,
    require_prompts,
    si_sdr,
    white_noise_copy,
)
from test_transforms_beam import make_segment

from voxsift import models
from voxsift.prompts import load_prompts
from voxsift.transforms.enhance import EnhanceHandler, load_enhancer
from voxsift.transforms.settings import EnhanceSettings

SNR_DB = 5.0
NOISES = {"white": white_noise_copy, "pink": pink_noise_copy}


@pytest.fixture(scope="module")
def noisy_speech():
    require_prompts("en")
    chosen = load_prompts("en", min_words=5, part="a", limit=4, max_seconds=8.0)
    clean = [prompt_audio(p) for p in chosen]
    return {
        kind: [(c, add(c, SNR_DB, seed)) for seed, c in enumerate(clean)]
        for kind, add in NOISES.items()
    }


def _gain(enhancer, pairs) -> float:
    outputs = enhancer.enhance([noisy for _, noisy in pairs])
    gains = [
        si_sdr(clean, out) - si_sdr(clean, noisy)
        for (clean, noisy), out in zip(pairs, outputs, strict=True)
    ]
    assert all(len(out) == len(noisy) for (_, noisy), out in zip(pairs, outputs, strict=True))
    return float(np.mean(gains))


@pytest.mark.parametrize(("method", "floor"), [("deepfilternet", 5.0), ("gtcrn", 3.0)])
@pytest.mark.parametrize("noise", sorted(NOISES))
def test_denoiser_raises_si_sdr_of_noisy_speech(noisy_speech, method, floor, noise):
    archive = models.DFN3_ARCHIVE if method == "deepfilternet" else models.GTCRN_ONNX
    require(models.installed([archive]), archive.distribution)
    enhancer = load_enhancer(EnhanceSettings(method=method))
    gain = _gain(enhancer, noisy_speech[noise])
    assert gain >= floor, f"{method} on {noise} noise: SI-SDR +{gain:.1f} dB"


@pytest.mark.parametrize("method", ["deepfilternet", "gtcrn"])
def test_gate_keeps_the_denoised_noisy_speech_and_records_it(noisy_speech, method):
    archive = models.DFN3_ARCHIVE if method == "deepfilternet" else models.GTCRN_ONNX
    require(models.installed([archive]), archive.distribution)
    handler = EnhanceHandler(EnhanceSettings(method=method))
    model = handler.load_model()
    segments = [make_segment(f"n{i}", noisy) for i, (_, noisy) in enumerate(noisy_speech["white"])]
    gated = handler.process_batch(segments, model)
    assert [s.fields["enhancement"] for s in gated] == [method] * len(segments)
    assert all(s.fields["snr_after_db"] > s.fields["snr_before_db"] for s in gated)
