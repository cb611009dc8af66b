"""The curate steps in order, as the curate pipeline chains them.

Order: enhance → label → normalize → quality. Enhancement first, so the teacher hears the audio
that will be trained on; labeling before normalization, which needs a transcript or a
pseudo-label to normalize; quality last, so its metrics describe the audio and the text as they
leave the stage (the speaking rate needs the spoken-form text). A step switched off in the
config is left out, and its columns stay null.
"""

from __future__ import annotations

import apache_beam as beam

from voxsift.transforms.enhance import EnhanceHandler
from voxsift.transforms.inference import CurateStep
from voxsift.transforms.label import LabelHandler
from voxsift.transforms.normalize import NormalizeHandler
from voxsift.transforms.quality import QualityHandler
from voxsift.transforms.settings import (
    EnhanceSettings,
    LabelSettings,
    NormalizeSettings,
    QualitySettings,
)


def curate_steps(
    quality: QualitySettings,
    enhance: EnhanceSettings,
    label: LabelSettings,
    normalize: NormalizeSettings,
) -> list[tuple[str, beam.PTransform]]:
    """(name, PTransform) pairs; each maps segments to ``{"segments", "rejects"}``."""
    steps: list[tuple[str, beam.PTransform]] = []
    if enhance.spec.kind != "none":
        steps.append(("enhance", CurateStep(EnhanceHandler(enhance))))
    if label.spec.kind != "none":
        steps.append(("label", CurateStep(LabelHandler(label))))
    if normalize.enabled:
        steps.append(("normalize", CurateStep(NormalizeHandler(normalize))))
    if quality.enabled:
        steps.append(("quality", CurateStep(QualityHandler(quality))))
    return steps
