"""What selection works on: candidates, and the reference fitted once and shared by all workers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from voxsift.selectors.index import nearest_centroid


@dataclass(frozen=True)
class Candidate:
    """The slice of a segment row that selection works on; the embedding as float32."""

    key: str
    duration: float
    confidence: float | None = None
    weight: float = 1.0
    has_text: bool = False
    group: str | None = None
    embedding: np.ndarray | None = None
    text_source: str | None = None
    """Where the training text comes from: ``reference``, ``pseudo_label``, or None (no text)."""
    expected_wer: float | None = None
    """The expected WER of the training text: set once the calibration is known (ScoreCell)."""

    def preference(self) -> tuple[bool, float, str]:
        """Which copy of a near-duplicate to keep: transcribed first, then surer, then by key."""
        return (not self.has_text, -(self.confidence or 0.0), self.key)

    def with_label(self, expected_wer: float | None, weight: float) -> Candidate:
        """A copy with the expected WER of its training text and its final loss weight."""
        return replace(self, expected_wer=expected_wer, weight=weight)


@dataclass(frozen=True)
class Reference:
    """Everything fitted once and shared by the workers that score candidates."""

    targets: np.ndarray
    guard: np.ndarray
    guard_keys: tuple[str, ...]
    pool_sample: np.ndarray
    centroids: np.ndarray | None
    model: Any = None
    """What the method's ``fit`` returned (GOT-D's target potential, DSIR's cell weights)."""
    calibration: Any = None
    """The fitted :class:`~voxsift.selectors.calibration.Calibration`: confidence → expected WER."""
    pool_scores: np.ndarray | None = None
    """The method's raw scores of the pool sample, sorted: the pool quantile of label-aware
    ranking (label_risk.py); None when that ranking is off."""

    def cell(self, embedding: np.ndarray | None) -> int:
        if embedding is None or self.centroids is None:
            return 0
        return nearest_centroid(self.centroids, embedding)

    def stack(self, members: Sequence[Candidate]) -> np.ndarray:
        """The members' embeddings as one float32 matrix, as wide as the targets'."""
        return stack_vectors([m.embedding for m in members], self.targets.shape[1])


def stack_vectors(vectors: Sequence[np.ndarray], dim: int | None) -> np.ndarray:
    """Vectors as one float32 matrix; ``dim`` columns when there are none."""
    if not vectors:
        return np.zeros((0, dim or 0), dtype=np.float32)
    return np.stack(vectors).astype(np.float32)
