"""Calibrated teacher confidence: the WER a candidate's training text is expected to have.

A teacher's confidence ranks its labels well but is compressed and over-confident (0.83–0.95 for
label WERs 0.16–0.96 in the closed loop), so a weight linear in it barely separates a good label
from a bad one. The segments that have both a teacher ``confidence`` and a ``label_wer`` (those
with a reference transcript relabeled under ``label.relabel_transcribed: true``, pool and target
alike) give pairs to learn the map confidence → label WER (clipped to [0, 1]) from:

- ``isotonic``: scikit-learn's ``IsotonicRegression(increasing=False, out_of_bounds="clip")``;
  the fitted points are its thresholds, and between them it interpolates linearly, as its own
  ``predict`` does;
- ``binned``: equal-count confidence bins (at most ``bins``, at least ``min_per_bin`` segments
  each), each bin's mean confidence and mean label WER as a point, the means made non-increasing
  by pooling adjacent violators (weighted by the bin counts).

With fewer than ``min_segments`` pairs the fit falls back to ``expected_wer = 1 − confidence``,
recorded as ``method: fallback`` with the reason. At most :data:`MAX_PAIRS` pairs, the smallest
in (seed, key) hash order, reach the fit; it sorts them by key, so it is the same on any runner.
A hash-chosen :data:`HOLDOUT` share is also held out once to report the fit's error on unseen
segments.

A candidate's expected WER is 0.0 when its training text is its reference transcript (counted
error-free), the calibrated value of its confidence when the text is the teacher's pseudo-label,
and None when it has no training text (or a pseudo-label without a confidence). Where a ranking
needs a number for None it uses ``fill``: the mean expected WER of the pool sample.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from voxsift.evaltext import spearman
from voxsift.schema import training_text, uniform_hash
from voxsift.selectors.candidates import Candidate
from voxsift.selectors.options import CalibrationSettings

log = logging.getLogger(__name__)

MAX_PAIRS = 100_000
"""(confidence, label WER) pairs the fit sees at most: a hash-ordered sample beyond that."""
HOLDOUT = 0.2
"""Share of the pairs (by hash of the key) held out to measure the fit's error."""
MIN_HELD_OUT = 5
"""Held-out pairs needed to report an error."""
REPORT_POINTS = 200
"""Curve points written to the diagnostics at most (the fit itself keeps all of them)."""
REFERENCE, PSEUDO_LABEL = "reference", "pseudo_label"

Pair = tuple[str, float, float]
"""(key, teacher confidence, label WER) of one segment that has both."""


def text_source(row: Mapping[str, Any]) -> str | None:
    """Where a segment row's training text comes from (see :func:`schema.training_text`)."""
    if training_text(row) is None:
        return None
    text = row.get("text")
    return REFERENCE if isinstance(text, str) and text.strip() else PSEUDO_LABEL


def pair_of(row: Mapping[str, Any]) -> Pair | None:
    """The calibration pair of a segment row, or None without a confidence and a label WER."""
    confidence, wer = row.get("confidence"), row.get("label_wer")
    if confidence is None or wer is None:
        return None
    return (row["key"], float(confidence), float(wer))


def pair_order(seed: int):
    """Sort key of the hash-ordered sample of pairs: the same sample on every runner."""
    return lambda pair: (uniform_hash(seed, pair[0], "calibration"), pair[0])


@dataclass(frozen=True)
class Calibration:
    """A fitted, non-increasing map from teacher confidence to expected label WER."""

    method: str
    confidence: tuple[float, ...]
    """Confidences of the fitted points, ascending; linear in between, constant beyond."""
    expected: tuple[float, ...]
    """Expected WER at each point, non-increasing."""
    segments: int
    """Pairs the fit saw."""
    reason: str | None = None
    spearman: float | None = None
    mean_label_wer: float | None = None
    fill: float = 0.0
    """Expected WER used where a candidate has none: the mean over the pool sample."""
    held_out: Mapping[str, Any] | None = None

    def predict(self, confidences: Sequence[float] | np.ndarray) -> np.ndarray:
        values = np.asarray(confidences, dtype=np.float64)
        return np.clip(np.interp(values, self.confidence, self.expected), 0.0, 1.0)

    def expected_wer(self, candidate: Candidate) -> float | None:
        """0.0 for a reference transcript, the calibrated confidence for a pseudo-label."""
        if candidate.text_source == REFERENCE:
            return 0.0
        if candidate.text_source != PSEUDO_LABEL or candidate.confidence is None:
            return None
        return float(self.predict([candidate.confidence])[0])

    def with_fill(self, sample: Sequence[Candidate]) -> Calibration:
        """A copy whose ``fill`` is the mean expected WER of ``sample`` (0.0 when none has one)."""
        values = [v for v in map(self.expected_wer, sample) if v is not None]
        return replace(self, fill=float(np.mean(values)) if values else 0.0)

    def report(self) -> dict[str, Any]:
        """The figures of the fit for ``_diagnostics.json``."""
        step = max(1, -(-len(self.confidence) // REPORT_POINTS))
        keep = sorted({*range(0, len(self.confidence), step), len(self.confidence) - 1})
        return {
            "method": self.method,
            "reason": self.reason,
            "segments": self.segments,
            "spearman": _rounded(self.spearman),
            "mean_label_wer": _rounded(self.mean_label_wer),
            "expected_wer_range": [_rounded(min(self.expected)), _rounded(max(self.expected))],
            "fill_expected_wer": _rounded(self.fill),
            "held_out": None if self.held_out is None else dict(self.held_out),
            "curve": {
                "confidence": [_rounded(self.confidence[i]) for i in keep],
                "expected_wer": [_rounded(self.expected[i]) for i in keep],
            },
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def fit(pairs: Sequence[Pair], settings: CalibrationSettings, seed: int) -> Calibration:
    """The calibration of ``pairs`` under ``settings`` (see the module docstring)."""
    pairs = sorted(pairs)
    confidence, wer = _arrays(pairs)
    figures = {
        "segments": len(pairs),
        "spearman": spearman(confidence, wer),
        "mean_label_wer": float(wer.mean()) if len(wer) else None,
    }
    if len(pairs) < settings.min_segments:
        reason = f"{len(pairs)} segments with a label WER < min_segments {settings.min_segments}"
        log.info(
            "select: calibration falls back to 1 - confidence (%s); relabel transcribed "
            "segments (label.relabel_transcribed: true) to fit it",
            reason,
        )
        return Calibration("fallback", (0.0, 1.0), (1.0, 0.0), reason=reason, **figures)
    points = curve(confidence, wer, settings)
    held_out = _held_out(pairs, settings, seed)
    return Calibration(settings.method, *points, held_out=held_out, **figures)


def _arrays(pairs: Sequence[Pair]) -> tuple[np.ndarray, np.ndarray]:
    confidence = np.array([p[1] for p in pairs], dtype=np.float64)
    wer = np.clip(np.array([p[2] for p in pairs], dtype=np.float64), 0.0, 1.0)
    return confidence, wer


def curve(
    confidence: np.ndarray, wer: np.ndarray, settings: CalibrationSettings
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The fitted points (confidences ascending, expected WERs non-increasing)."""
    from sklearn.isotonic import IsotonicRegression, isotonic_regression

    if settings.method == "isotonic":
        model = IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=0.0, y_max=1.0)
        model.fit(confidence, wer)
        return tuple(map(float, model.X_thresholds_)), tuple(map(float, model.y_thresholds_))
    order = np.lexsort((wer, confidence))
    count = max(1, min(settings.bins, len(order) // settings.min_per_bin))
    bins = np.array_split(order, count)
    means = np.array([wer[b].mean() for b in bins])
    sizes = np.array([len(b) for b in bins], dtype=np.float64)
    pooled = isotonic_regression(means, sample_weight=sizes, increasing=False)
    return tuple(float(confidence[b].mean()) for b in bins), tuple(map(float, pooled))


def _held_out(
    pairs: Sequence[Pair], settings: CalibrationSettings, seed: int
) -> dict[str, Any] | None:
    """Mean absolute error on a held-out share, of the fit and of the training mean."""
    held = [uniform_hash(seed, key, "calibration-holdout") < HOLDOUT for key, _, _ in pairs]
    train = [p for p, h in zip(pairs, held, strict=True) if not h]
    test = [p for p, h in zip(pairs, held, strict=True) if h]
    if len(test) < MIN_HELD_OUT or len(train) < settings.min_segments:
        return None
    train_x, train_y = _arrays(train)
    test_x, test_y = _arrays(test)
    points = curve(train_x, train_y, settings)
    predicted = np.clip(np.interp(test_x, *points), 0.0, 1.0)
    return {
        "segments": len(test),
        "mae": round(float(np.abs(predicted - test_y).mean()), 6),
        "mae_of_mean": round(float(np.abs(train_y.mean() - test_y).mean()), 6),
    }
