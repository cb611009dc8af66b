"""Typed settings of the curate steps: the ``quality``, ``enhance``, ``label`` and ``normalize``
sections of the run config.

Models are chosen by config strings such as ``demucs:htdemucs@/models/demucs`` or
``whisper:openai/whisper-small``. They are parsed here, once, so a typo fails when the config is
read, with the field's name and the forms it accepts, instead of on a worker an hour later.
Every default runs offline with what the pip packages ship.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from voxsift.settings import Settings

ENHANCE_FORMS = "'rnnoise', 'none' or 'demucs:NAME[@REPO_DIR]' (e.g. 'demucs:htdemucs@/models')"
TEACHER_FORMS = (
    "'pocketsphinx', 'none', 'whisper:NAME_OR_PATH' (e.g. 'whisper:openai/whisper-small') or "
    "'ctc:PATH' (a CTC checkpoint or a voxsift train output folder)"
)
DEVICE_FORMS = "'auto', 'cpu', 'cuda' or 'cuda:N'"
NEMO_LANGUAGES = (
    "ar", "de", "en", "es", "fr", "hi", "hu", "hy", "it", "ja", "ko", "pt", "rw", "sv", "vi", "zh",
)  # fmt: skip
"""Languages nemo-text-processing 1.2 normalizes deterministically (Russian needs audio)."""

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_DEMUCS = re.compile(r"^demucs:(?P<name>[^@\s]+)(@(?P<repo>\S.*))?$")
_WHISPER = re.compile(r"^whisper:(?P<name>\S.*)$")
_CTC = re.compile(r"^ctc:(?P<name>\S.*)$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model string: the family, the model name or path, and an optional local repo."""

    kind: str
    name: str = ""
    repo: str | None = None


def parse_enhancement(value: str) -> ModelSpec:
    """``rnnoise`` | ``none`` | ``demucs:NAME[@REPO_DIR]``; else a ValueError naming the forms."""
    if value in ("rnnoise", "none"):
        return ModelSpec(value)
    found = _DEMUCS.match(value)
    if not found:
        raise ValueError(f"method must be {ENHANCE_FORMS}; got {value!r}")
    return ModelSpec("demucs", found["name"], found["repo"])


def parse_teacher(value: str) -> ModelSpec:
    """``pocketsphinx`` | ``none`` | ``whisper:NAME_OR_PATH`` | ``ctc:PATH``; else ValueError."""
    if value in ("pocketsphinx", "none"):
        return ModelSpec(value)
    for kind, pattern in (("whisper", _WHISPER), ("ctc", _CTC)):
        found = pattern.match(value)
        if found:
            return ModelSpec(kind, found["name"].strip())
    raise ValueError(f"teacher must be {TEACHER_FORMS}; got {value!r}")


def _check_device(value: str) -> str:
    if not _DEVICE.match(value):
        raise ValueError(f"device must be {DEVICE_FORMS}; got {value!r}")
    return value


class _Settings(Settings):
    """A section of this stage's settings (voxsift's one settings base)."""


class QualitySettings(_Settings):
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


class EnhanceSettings(_Settings):
    method: str = Field("rnnoise", description=f"Denoiser: {ENHANCE_FORMS}.")
    gate_margin_db: float = Field(
        1.0,
        description="Keep the enhanced audio only when the SNR estimate rises by at least this.",
    )
    batch_size: int = Field(8, gt=0, description="Segments per RunInference batch.")
    device: str = Field("auto", description=f"Torch device for demucs: {DEVICE_FORMS}.")

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        parse_enhancement(value)
        return value

    _device = field_validator("device")(_check_device)

    @property
    def spec(self) -> ModelSpec:
        return parse_enhancement(self.method)


class LabelSettings(_Settings):
    teacher: str = Field("pocketsphinx", description=f"Pseudo-labeler: {TEACHER_FORMS}.")
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
        "auto", description=f"Torch device for the Whisper and CTC teachers: {DEVICE_FORMS}."
    )

    @field_validator("teacher")
    @classmethod
    def _known_teacher(cls, value: str) -> str:
        parse_teacher(value)
        return value

    _device = field_validator("device")(_check_device)

    @property
    def spec(self) -> ModelSpec:
        return parse_teacher(self.teacher)


class NormalizeSettings(_Settings):
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


WHISPER_PREFIX = "whisper-encoder:"


class EmbedSettings(_Settings):
    """The embed step: which vectors selection compares segments by (see transforms/embed.py)."""

    kinds: list[str] = Field(
        default_factory=lambda: ["acoustic"],
        description="Blocks of the embedding, in order: acoustic, text, whisper-encoder:NAME.",
    )
    weights: list[float] | None = Field(
        None, description="Weight of each block in squared distances; equal when omitted."
    )
    batch_size: int = Field(16, gt=0, description="Segments per model call at most.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: a GPU if present.")

    @model_validator(mode="after")
    def _valid_kinds(self) -> EmbedSettings:
        for kind in self.kinds:
            if kind not in ("acoustic", "text") and not kind.startswith(WHISPER_PREFIX):
                raise ValueError(
                    f"unknown kind {kind!r}; use acoustic, text or whisper-encoder:NAME"
                )
            if kind == WHISPER_PREFIX:
                raise ValueError("whisper-encoder: needs a model name or path after the colon")
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError("kinds must not repeat")
        bad_weight = self.weights is not None and any(w <= 0 for w in self.weights)
        if bad_weight or (self.weights is not None and len(self.weights) != len(self.kinds)):
            raise ValueError("weights needs one positive number per kind")
        return self

    def block_scales(self) -> list[float]:
        weights = self.weights or [1.0] * len(self.kinds)
        return [math.sqrt(w / sum(weights)) for w in weights]
