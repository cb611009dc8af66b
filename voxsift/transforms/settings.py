"""Typed settings of the curate stage: the ``ingest``, ``segment``, ``loudness``, ``quality``,
``enhance``, ``label``, ``normalize`` and ``embed`` sections of the run config.

Models are chosen by config strings such as ``demucs:htdemucs@/models/demucs`` or
``whisper:openai/whisper-small``, whose kinds are registered in :mod:`voxsift.transforms.kinds`.
They are parsed here, once, so a typo fails when the config is read, with the field's name and
the forms it accepts, instead of on a worker an hour later.
Every default runs offline with what the pip packages ship.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from voxsift.settings import PathList, Settings, Size
from voxsift.transforms.kinds import (
    EMBEDDERS,
    ENHANCERS,
    TEACHERS,
    ModelSpec,
    check_model,
    forms,
    parse_model,
)

DEVICE_FORMS = "'auto', 'cpu', 'cuda' or 'cuda:N'"


def model_copies_field():
    """``model_copies``: Beam's ``large_model`` sharing, for workers with one or a few GPUs.

    Unset, every SDK process of a worker loads its own model (Beam's default: right on CPUs).
    Set to N, RunInference keeps N copies per worker machine, shared by all its processes
    through ``multi_process_shared``, so eight processes on one GPU hold one model, not eight.
    """
    return Field(
        None,
        ge=1,
        description="Models per worker machine, shared by its processes (Beam's large_model); "
        "unset: one per process. Set 1 per GPU on GPU workers.",
    )


NEMO_LANGUAGES = (
    "ar", "de", "en", "es", "fr", "hi", "hu", "hy", "it", "ja", "ko", "pt", "rw", "sv", "vi", "zh",
)  # fmt: skip
"""Languages nemo-text-processing 1.2 normalizes deterministically (Russian needs audio)."""

ComputeType = Literal["auto", "int8", "int8_float16", "int8_float32", "float16", "float32"]
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def parse_enhancement(value: str) -> ModelSpec:
    """A registered enhancer (``rnnoise``, ``demucs:NAME[@REPO_DIR]``) or ``none``; else a
    ValueError naming the forms."""
    return parse_model(ENHANCERS, value, off=True)


def parse_teacher(value: str) -> ModelSpec:
    """A registered teacher (``pocketsphinx``, ``whisper:NAME_OR_PATH``, ``ctc:PATH``) or
    ``none``; else a ValueError naming the forms."""
    return parse_model(TEACHERS, value, off=True)


def _check_device(value: str) -> str:
    if not _DEVICE.match(value):
        raise ValueError(f"device must be {DEVICE_FORMS}; got {value!r}")
    return value


class IngestSettings(Settings):
    roots: PathList = Field(
        default_factory=list,
        description="When set, every path read (manifests, audio, sidecar transcripts) must "
        "resolve (symlinks followed) inside one.",
    )
    max_text_chars: int = Field(10_000, gt=0, description="Longer transcripts are rejected.")
    max_line_bytes: Size = Field(
        1_000_000, description="A longer manifest line is rejected (manifest_line_too_long)."
    )
    max_sidecar_bytes: Size = Field(
        1_000_000, description="A larger sidecar .txt is rejected (transcript_too_long)."
    )


class SegmentSettings(Settings):
    min_seconds: float = Field(1.0, gt=0, description="Shorter speech is dropped.")
    max_seconds: float = Field(30.0, gt=0, description="Longer speech is split at pauses.")
    vad_threshold: float = Field(0.5, gt=0, lt=1, description="silero-vad speech probability.")
    min_silence_ms: int = Field(300, ge=0, description="A pause this long may end a segment.")
    speech_pad_ms: int = Field(100, ge=0, description="Audio kept around each speech region.")
    stream_window_seconds: float = Field(
        300.0, description="Longer files are streamed through VAD windows this long, not loaded."
    )

    @model_validator(mode="after")
    def _ordered(self) -> SegmentSettings:
        if self.min_seconds >= self.max_seconds:
            raise ValueError("min_seconds must be below max_seconds")
        if self.stream_window_seconds < 2 * self.max_seconds:
            raise ValueError("stream_window_seconds must be at least twice max_seconds")
        return self


class LoudnessSettings(Settings):
    enabled: bool = Field(True, description="Scale each segment towards target_lufs.")
    # the same as audio.TARGET_LUFS / MAX_GAIN_DB, which `voxsift evaluate` applies; not
    # imported, so that reading a config (and every --help) stays free of numpy
    target_lufs: float = Field(-23.0, le=0, description="EBU R128 programme loudness.")
    max_gain_db: float = Field(30.0, ge=0, description="Never amplify or cut by more.")


class QualitySettings(Settings):
    enabled: bool = Field(True, description="Measure SNR, clipping, speech ratio and speed.")
    vad_threshold: float = Field(
        0.5, gt=0, lt=1, description="silero-vad speech probability above which a frame is speech."
    )
    clip_level: float = Field(
        0.999,
        gt=0,
        le=1,
        description="A sample counts as clipped at this fraction of the segment's peak or above.",
    )
    batch_size: int = Field(16, gt=0, description="Segments per RunInference batch.")


class EnhanceSettings(Settings):
    method: str = Field(
        "none",
        description=f"Denoiser: {forms(ENHANCERS, off=True)}. Off by default: every denoiser "
        "raised the teacher's WER on noisy speech (README, bench/real_speech.py).",
    )
    gate_margin_db: float = Field(
        1.0,
        description="Keep the enhanced audio only when the SNR estimate rises by at least this.",
    )
    batch_size: int = Field(8, gt=0, description="Segments per RunInference batch.")
    device: str = Field("auto", description=f"Torch device for demucs: {DEVICE_FORMS}.")
    model_copies: int | None = model_copies_field()

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        parse_enhancement(value)
        return value

    _device = field_validator("device")(_check_device)

    @property
    def spec(self) -> ModelSpec:
        return parse_enhancement(self.method)


class LabelSettings(Settings):
    teacher: str = Field(
        "pocketsphinx", description=f"Pseudo-labeler: {forms(TEACHERS, off=True)}."
    )
    relabel_transcribed: bool = Field(
        False,
        description="Also label transcribed segments, to store their label_wer and confidence.",
    )
    language: str | None = Field(
        "en", description="Whisper's language code; null detects it per segment."
    )
    max_new_tokens: int = Field(
        128, gt=0, le=440, description="Whisper: most tokens generated per segment."
    )
    batch_size: int = Field(8, gt=0, description="Segments per RunInference batch.")
    device: str = Field(
        "auto", description=f"Device for the Whisper and CTC teachers: {DEVICE_FORMS}."
    )

    compute_type: ComputeType = Field(
        "auto",
        description="faster-whisper: CTranslate2 compute type; auto is int8 on the CPU, "
        "float16 on a GPU.",
    )
    beam_size: int = Field(5, gt=0, le=16, description="faster-whisper: beam search width.")
    model_copies: int | None = model_copies_field()

    @field_validator("teacher")
    @classmethod
    def _known_teacher(cls, value: str) -> str:
        check_model(TEACHERS, value, off=True)  # a packaged model must be installed
        return value

    _device = field_validator("device")(_check_device)

    @property
    def spec(self) -> ModelSpec:
        return parse_teacher(self.teacher)


class NormalizeSettings(Settings):
    enabled: bool = Field(True, description="Write norm_text, the spoken-form training target.")
    language: str = Field("en", description=f"NeMo language, one of {', '.join(NEMO_LANGUAGES)}.")
    cache_dir: str | None = Field(
        "~/.cache/voxsift/nemo_tn",
        description="Where NeMo keeps its compiled grammars (~30 s to build once); null: no cache.",
    )
    batch_size: int = Field(64, gt=0, description="Segments per RunInference batch.")

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in NEMO_LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(NEMO_LANGUAGES)}; got {value!r}")
        return value


class EmbedSettings(Settings):
    """The embed step: which vectors selection compares segments by (see transforms/embed.py)."""

    kinds: list[str] = Field(
        default_factory=lambda: ["acoustic"],
        description=f"Blocks of the embedding, in order, each one of {forms(EMBEDDERS)}.",
    )
    weights: list[float] | None = Field(
        None, description="Weight of each block in squared distances; equal when omitted."
    )
    batch_size: int = Field(16, gt=0, description="Segments per model call at most.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: a GPU if present.")

    @model_validator(mode="after")
    def _valid_kinds(self) -> EmbedSettings:
        for kind in self.kinds:
            parse_model(EMBEDDERS, kind)
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError("kinds must not repeat")
        bad_weight = self.weights is not None and any(w <= 0 for w in self.weights)
        if bad_weight or (self.weights is not None and len(self.weights) != len(self.kinds)):
            raise ValueError("weights needs one positive number per kind")
        return self

    def block_scales(self) -> list[float]:
        weights = self.weights or [1.0] * len(self.kinds)
        return [math.sqrt(w / sum(weights)) for w in weights]
