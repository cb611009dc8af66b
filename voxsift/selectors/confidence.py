"""Label-quality filters and the per-sample loss weight derived from the teacher's confidence.

Filters look only at columns a curate step filled in: a null column (the step did not run, or a
reference transcript needed no teacher) passes, since there is nothing to judge it by.

The weight follows Ask2Mask's utterance-level loss scaling: the trainer multiplies each sample's
loss by it. ``weighting`` picks its formula:

- ``confidence``: ``floor + (1 - floor) * confidence ** power``, from the segment row (phase one,
  ``select.to_candidate``). A teacher's raw confidence is compressed (0.83–0.95 in the closed
  loop), so with floor 0.1 a wrong label still counts 85% of a right one;
- ``calibrated``: ``floor + (1 - floor) * (1 - expected_wer) ** power``, with the expected WER of
  the training text from the calibrated confidence (calibration.py), so set once the calibration
  is fitted (phase two, in the select stage's ScoreCell). A reference transcript has expected
  WER 0 and weight 1.0;
- ``none``: 1.0.

Either weight is 1.0 when its input is unknown, ``floor`` at confidence (accuracy) 0, 1.0 at 1,
and never decreases as the confidence (the expected accuracy) grows, so a sample whose label is
likelier right never counts less.
"""

from __future__ import annotations

from typing import Any

from voxsift.schema import floored_weight
from voxsift.selectors.settings import SelectSettings


def below(value: float | None, limit: float | None) -> bool:
    """Set and under a set limit: an unset value or limit never filters."""
    return value is not None and limit is not None and value < limit


def above(value: float | None, limit: float | None) -> bool:
    return value is not None and limit is not None and value > limit


def confidence_reason(row: dict[str, Any], settings: SelectSettings) -> str | None:
    """Why the label or audio of this segment is not trusted, or None."""
    if below(row.get("confidence"), settings.min_confidence):
        return "filtered_low_confidence"
    if above(row.get("label_wer"), settings.max_label_wer):
        return "filtered_label_wer"
    if below(row.get("chars_per_second"), settings.min_chars_per_second):
        return "filtered_too_slow"
    if above(row.get("chars_per_second"), settings.max_chars_per_second):
        return "filtered_too_fast"
    if below(row.get("snr_est_db"), settings.min_snr_db):
        return "filtered_low_snr"
    return None


def _scaled(value: float, settings: SelectSettings) -> float:
    return floored_weight(value, settings.weight_floor, settings.weight_power)


def weight(confidence: float | None, settings: SelectSettings) -> float:
    """Phase one: the loss weight from the row's teacher confidence (``weighting: confidence``);
    1.0 under the other weightings, which this phase cannot compute."""
    if settings.weighting != "confidence" or confidence is None:
        return 1.0
    return _scaled(confidence, settings)


def calibrated_weight(expected_wer: float | None, settings: SelectSettings) -> float:
    """The loss weight from the expected WER of the training text (``weighting: calibrated``)."""
    if expected_wer is None:
        return 1.0
    return _scaled(1.0 - expected_wer, settings)


def final_weight(phase_one: float, expected_wer: float | None, settings: SelectSettings) -> float:
    """Phase two, once the calibration is known: the calibrated weight, or phase one's."""
    if settings.weighting == "calibrated":
        return calibrated_weight(expected_wer, settings)
    return phase_one
