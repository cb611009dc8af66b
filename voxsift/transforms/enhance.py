"""Speech enhancement behind a quality gate: RNNoise (the default), demucs' vocals stem, or none.

A denoiser can hurt as well as help (musical noise, swallowed consonants, and nothing to gain on
clean audio), so each segment is measured before and after with the WADA-SNR estimate and the
enhanced audio is kept only when the estimate rises by at least ``gate_margin_db``. The segment
records which enhancement it carries (``"none"`` when the gate said no) and both measurements.
Enhancers are registered by kind in ``kinds.ENHANCERS``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voxsift.asr.devices import resolve_device
from voxsift.schema import SAMPLE_RATE, Segment
from voxsift.transforms.inference import SegmentHandler
from voxsift.transforms.kinds import ENHANCERS, ModelSpec
from voxsift.transforms.quality import wada_snr
from voxsift.transforms.settings import EnhanceSettings

_INT16_SCALE = 32768.0


class Enhancer:
    """A loaded denoiser: a batch of 16 kHz audio in, the enhanced audio of each out."""

    @classmethod
    def load(cls, spec: ModelSpec, settings: EnhanceSettings) -> Enhancer:
        """The enhancer ``enhance.method`` names; by default one without settings."""
        return cls()

    def enhance(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError(type(self))


def _fit(audio: np.ndarray, length: int) -> np.ndarray:
    """Crop or zero-pad to ``length`` samples: resampling round trips may be off by a few."""
    audio = audio[:length]
    return np.pad(audio, (0, length - len(audio))).astype(np.float32)


def rnnoise_denoise(audio: np.ndarray) -> np.ndarray:
    """RNNoise over 16 kHz float audio: it runs on 10 ms frames at 48 kHz in int16 scale.

    The C function is called directly rather than through pyrnnoise's ``RNNoise`` class, which
    casts each frame to int16 without clipping and reads files through ffmpeg graphs.
    """
    from pyrnnoise.rnnoise import FRAME_SIZE, create, destroy, lib
    from pyrnnoise.rnnoise import SAMPLE_RATE as RNNOISE_RATE
    from scipy.signal import resample_poly

    factor = RNNOISE_RATE // SAMPLE_RATE
    upsampled = resample_poly(audio.astype(np.float64), factor, 1) * _INT16_SCALE
    frames = np.pad(upsampled, (0, -len(upsampled) % FRAME_SIZE)).astype(np.float32)
    frames = frames.reshape(-1, FRAME_SIZE)
    denoised = np.empty_like(frames)
    state = create()
    try:
        for frame, out in zip(frames, denoised, strict=True):
            lib.rnnoise_process_frame(state, _float_ptr(out), _float_ptr(frame))
    finally:
        destroy(state)
    down = resample_poly(denoised.reshape(-1).astype(np.float64) / _INT16_SCALE, 1, factor)
    return np.clip(_fit(down, len(audio)), -1.0, 1.0)


def _float_ptr(array: np.ndarray):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


class RNNoise(Enhancer):
    """RNNoise has no weights to load: the library ships them; a state lives for one segment."""

    def enhance(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [rnnoise_denoise(audio) for audio in batch]


class DemucsVocals(Enhancer):
    """A demucs model (or bag) from a local repo folder or the local cache; keeps the vocals."""

    @classmethod
    def load(cls, spec: ModelSpec, settings: EnhanceSettings) -> DemucsVocals:
        return cls(spec.name, spec.repo, resolve_device(settings.device))

    def __init__(self, name: str, repo: str | None, device: str):
        from demucs.pretrained import get_model

        model = get_model(name, repo=Path(repo).expanduser() if repo else None)
        if "vocals" not in model.sources:
            raise ValueError(f"demucs model {name!r} has no vocals stem: {model.sources}")
        self._model = model.to(device).eval()
        self._vocals = model.sources.index("vocals")
        self._device = device

    def enhance(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Resample to the model's rate, separate the padded batch, return each vocals stem."""
        import torch
        from demucs.apply import apply_model
        from torchaudio.functional import resample

        rate, channels = self._model.samplerate, self._model.audio_channels
        waves = [resample(torch.from_numpy(audio), SAMPLE_RATE, rate) for audio in batch]
        # demucs' own CLI standardizes each mixture before separating and undoes it afterwards
        means = [float(w.mean()) for w in waves]
        stds = [max(float(w.std()), 1e-8) if len(w) > 1 else 1.0 for w in waves]
        mix = torch.zeros(len(waves), channels, max(len(w) for w in waves))
        for i, wave in enumerate(waves):
            mix[i, :, : len(wave)] = (wave - means[i]) / stds[i]
        with torch.inference_mode():
            sources = apply_model(self._model, mix, shifts=0, split=True, device=self._device)
        vocals = sources[:, self._vocals].mean(dim=1).cpu()
        outputs = []
        for i, audio in enumerate(batch):
            stem = vocals[i, : len(waves[i])] * stds[i] + means[i]
            outputs.append(_fit(resample(stem, rate, SAMPLE_RATE).numpy(), len(audio)))
        return outputs


def load_enhancer(settings: EnhanceSettings) -> Enhancer:
    """The enhancer ``enhance.method`` names, through its kind's loader (see kinds.ENHANCERS)."""
    spec = settings.spec
    return ENHANCERS.get(spec.kind).load(spec, settings)


class EnhanceHandler(SegmentHandler[Enhancer]):
    """Enhances a batch, then lets the SNR gate decide per segment which audio to keep."""

    step = "enhance"

    def __init__(self, settings: EnhanceSettings):
        super().__init__(settings.batch_size, model_copies=settings.model_copies)
        self._settings = settings
        self._label = settings.spec.label

    def load_model(self) -> Enhancer:
        return load_enhancer(self._settings)

    def process_batch(self, batch: Sequence[Segment], model: Enhancer) -> list[Segment]:
        enhanced = model.enhance([segment.audio for segment in batch])
        gated = [self.gate(s, e) for s, e in zip(batch, enhanced, strict=True)]
        kept = sum(segment.fields["enhancement"] != "none" for segment in gated)
        self.counter("gate_kept").inc(kept)
        self.counter("gate_discarded").inc(len(batch) - kept)
        return gated

    def gate(self, segment: Segment, enhanced: np.ndarray) -> Segment:
        """Keep ``enhanced`` only if it raises the SNR estimate by the margin; record both."""
        before, after = wada_snr(segment.audio), wada_snr(enhanced)
        kept = after - before >= self._settings.gate_margin_db
        result = segment.with_audio(enhanced) if kept else segment
        return result.with_fields(
            enhancement=self._label if kept else "none", snr_before_db=before, snr_after_db=after
        )
