"""Label-quality filters and the per-sample loss weight derived from the teacher's confidence.

Filters look only at columns a curate step filled in: a null column (the step did not run, or a
reference transcript needed no teacher) passes, since there is nothing to judge it by.

The weight follows Ask2Mask's utterance-level loss scaling: the trainer multiplies each sample's
loss by ``weight = floor + (1 - floor) * confidence ** power``. It is 1.0 when the confidence is
unknown or weighting is off, ``floor`` at confidence 0, 1.0 at confidence 1, and never decreases
as the confidence grows, so a sample the teacher is surer about never counts less.
"""

from __future__ import annotations

from typing import Any

from voxsift.selectors.settings import SelectSettings


def _below(value: float | None, limit: float | None) -> bool:
    return value is not None and limit is not None and value < limit


def _above(value: float | None, limit: float | None) -> bool:
    return value is not None and limit is not None and value > limit


def confidence_reason(row: dict[str, Any], settings: SelectSettings) -> str | None:
    """Why the label or audio of this segment is not trusted, or None."""
    if _below(row.get("confidence"), settings.min_confidence):
        return "filtered_low_confidence"
    if _above(row.get("label_wer"), settings.max_label_wer):
        return "filtered_label_wer"
    if _below(row.get("chars_per_second"), settings.min_chars_per_second):
        return "filtered_too_slow"
    if _above(row.get("chars_per_second"), settings.max_chars_per_second):
        return "filtered_too_fast"
    if _below(row.get("snr_est_db"), settings.min_snr_db):
        return "filtered_low_snr"
    return None


def weight(confidence: float | None, settings: SelectSettings) -> float:
    """The loss weight of a sample with this teacher confidence (see the module docstring)."""
    if settings.weighting == "none" or confidence is None:
        return 1.0
    clipped = min(max(float(confidence), 0.0), 1.0)
    floor = settings.weight_floor
    return floor + (1.0 - floor) * clipped**settings.weight_power
