"""What a pseudo-labeling teacher is: a loaded ASR model, and the transcript it returns.

Label (label.py) and every concrete teacher (pocketsphinx in label.py, whisper.py,
ctc_teacher.py) import this module, never each other; teachers are registered by kind in
:data:`~voxsift.transforms.kinds.TEACHERS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from voxsift.transforms.kinds import ModelSpec
    from voxsift.transforms.settings import LabelSettings


@dataclass(frozen=True)
class Transcript:
    """What a teacher says about one segment; optional signals are None when it has none."""

    text: str
    confidence: float
    word_confidences: list[float]
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    language: str | None = None
    """The language the teacher detected (None when it was fixed or not detected)."""
    language_probability: float | None = None
    """The teacher's probability of ``language``."""


class Teacher:
    """A loaded ASR model: a batch of 16 kHz audio in, one transcript per segment out."""

    @classmethod
    def load(cls, spec: ModelSpec, settings: LabelSettings) -> Teacher:
        """The teacher ``label.teacher`` names; by default ``cls(name_or_path, settings)``."""
        return cls(spec.name, settings)

    def transcribe(self, batch: Sequence[np.ndarray]) -> list[Transcript]:
        raise NotImplementedError(type(self))
