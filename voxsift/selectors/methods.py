"""Ranking methods: each maps candidates to scores, lower is better, ties broken by key.

What a method learns from the whole collection (the target potential, DSIR's cell weights, the
k-means cells) is fitted once into a :class:`Reference` from the target set and a pool sample; the
select stage hands it to every worker, which scores its candidates independently. A method never
sees the budget, so every method shares the same budget rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from voxsift.selectors import dsir, nudge
from voxsift.selectors.hashing import uniform_hash
from voxsift.selectors.index import VectorIndex, kmeans, nearest_centroid
from voxsift.selectors.settings import METHODS_NEEDING_TARGET, SelectSettings

__all__ = ["Candidate", "Reference", "fit_reference", "score", "uniform_hash"]

MIN_POINTS_PER_CELL = 8
"""k-means gets at most one cell per this many fitting points."""


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

    def preference(self) -> tuple[bool, float, str]:
        """Which copy of a near-duplicate to keep: transcribed first, then surer, then by key."""
        return (not self.has_text, -(self.confidence or 0.0), self.key)


@dataclass(frozen=True)
class Reference:
    """Everything fitted once and shared by the workers that score candidates."""

    targets: np.ndarray
    guard: np.ndarray
    guard_keys: tuple[str, ...]
    pool_sample: np.ndarray
    centroids: np.ndarray | None
    nudge: nudge.NudgeModel | None = None
    dsir_weights: np.ndarray | None = None

    def cell(self, embedding: np.ndarray | None) -> int:
        if embedding is None or self.centroids is None:
            return 0
        return nearest_centroid(self.centroids, embedding)


def _stack(vectors: Sequence[np.ndarray], dim: int | None) -> np.ndarray:
    if not vectors:
        return np.zeros((0, dim or 0), dtype=np.float32)
    return np.stack(vectors).astype(np.float32)


def fit_reference(
    targets: Sequence[Candidate],
    guards: Sequence[Candidate],
    sample: Sequence[Candidate],
    settings: SelectSettings,
) -> Reference:
    """Fit cells and the method's model from the target set (sorted by key) and a pool sample."""
    targets = sorted((t for t in targets if t.embedding is not None), key=lambda t: t.key)
    guards = sorted((g for g in guards if g.embedding is not None), key=lambda g: g.key)
    pool = [c.embedding for c in sample if c.embedding is not None]
    dims = {len(v) for v in [*pool, *(t.embedding for t in (*targets, *guards))]}
    if len(dims) > 1:
        raise ValueError(
            f"embeddings of different sizes {sorted(dims)}: re-run curate with one embed"
        )
    dim = dims.pop() if dims else None
    if settings.method in METHODS_NEEDING_TARGET and (not targets or not pool):
        raise ValueError(
            f"select.method {settings.method!r} needs embeddings of target and pool segments, "
            f"found {len(targets)} target and {len(pool)} pool embeddings"
        )
    target_vectors, pool_vectors = _stack([t.embedding for t in targets], dim), _stack(pool, dim)
    fitting = np.concatenate([pool_vectors, target_vectors])
    centroids = None
    if len(fitting):
        cells = min(settings.cells, max(1, len(fitting) // MIN_POINTS_PER_CELL))
        centroids = kmeans(fitting, cells, settings.seed)
    reference = Reference(
        targets=target_vectors,
        guard=_stack([g.embedding for g in guards], dim),
        guard_keys=tuple(g.key for g in guards),
        pool_sample=pool_vectors,
        centroids=centroids,
    )
    return _fit_method(reference, settings)


def _fit_method(reference: Reference, settings: SelectSettings) -> Reference:
    if settings.method == "nudge":
        model = nudge.fit(reference.targets, reference.pool_sample, settings.nudge)
        return replace(reference, nudge=model)
    if settings.method == "dsir":
        weights = dsir.log_weights(
            [reference.cell(v) for v in reference.targets],
            [reference.cell(v) for v in reference.pool_sample],
            len(reference.centroids),
            settings.dsir.smoothing,
        )
        return replace(reference, dsir_weights=weights)
    return reference


TargetIndex = Callable[[], VectorIndex]


def score(
    members: Sequence[Candidate],
    cell: int,
    reference: Reference,
    settings: SelectSettings,
    target_index: TargetIndex,
) -> np.ndarray:
    """Scores of one cell's candidates (lower ranks first) under ``settings.method``."""
    if not members:
        return np.zeros(0)
    keys = [m.key for m in members]
    method = settings.method
    if method == "random":
        return np.array([uniform_hash(settings.seed, k, "select") for k in keys])
    if method == "confidence":
        return np.array([-(m.confidence or 0.0) for m in members])
    if method == "dsir":
        return dsir.scores(reference.dsir_weights, [cell] * len(keys), keys, settings.seed)
    embeddings = _stack([m.embedding for m in members], reference.targets.shape[1])
    if method == "knn":
        distances, _ = target_index().search(embeddings, settings.knn.neighbors)
        return distances.mean(axis=1)
    index = target_index() if settings.nudge.neighbors is not None else None
    return nudge.scores(reference.nudge, embeddings, index)
