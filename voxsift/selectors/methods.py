"""Fitting the reference every ranking method scores against, and scoring one cell with it.

What a method learns from the whole collection (the target potential, DSIR's cell weights), the
k-means cells, the calibration of the teacher's confidence (calibration.py) and the pool sample's
scores that label-aware ranking turns into quantiles (label_risk.py) are fitted once into a
:class:`Reference` from the target set, a pool sample and the (confidence, label WER) pairs; the
select stage hands it to every worker, which scores its candidates independently. The methods
themselves are registered objects (:mod:`voxsift.selectors.ranking`); lower scores rank first,
ties broken by key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from voxsift.selectors import calibration, label_risk
from voxsift.selectors.candidates import Candidate, Reference, stack_vectors
from voxsift.selectors.index import kmeans
from voxsift.selectors.ranking import TargetIndex
from voxsift.selectors.settings import SelectSettings

__all__ = ["Candidate", "Reference", "TargetIndex", "fit_reference", "score"]

MIN_POINTS_PER_CELL = 8
"""k-means gets at most one cell per this many fitting points."""


def fit_reference(
    targets: Sequence[Candidate],
    guards: Sequence[Candidate],
    sample: Sequence[Candidate],
    settings: SelectSettings,
    pairs: Sequence[calibration.Pair] = (),
) -> Reference:
    """Fit cells, the calibration and the method's model from the target set, a pool sample and
    the (key, confidence, label WER) pairs; every input is put in key order first."""
    targets = sorted((t for t in targets if t.embedding is not None), key=lambda t: t.key)
    guards = sorted((g for g in guards if g.embedding is not None), key=lambda g: g.key)
    pool = [c.embedding for c in sample if c.embedding is not None]
    dim = _dimension([*pool, *(t.embedding for t in (*targets, *guards))])
    method = settings.ranking
    if method.needs_target and (not targets or not pool):
        raise ValueError(
            f"select.method {settings.method!r} needs embeddings of target and pool segments, "
            f"found {len(targets)} target and {len(pool)} pool embeddings"
        )
    target_vectors = stack_vectors([t.embedding for t in targets], dim)
    pool_vectors = stack_vectors(pool, dim)
    fitting = np.concatenate([pool_vectors, target_vectors])
    centroids = None
    if len(fitting):
        cells = min(settings.cells, max(1, len(fitting) // MIN_POINTS_PER_CELL))
        centroids = kmeans(fitting, cells, settings.seed)
    fitted = calibration.fit(pairs, settings.calibration, settings.seed)
    reference = Reference(
        targets=target_vectors,
        guard=stack_vectors([g.embedding for g in guards], dim),
        guard_keys=tuple(g.key for g in guards),
        pool_sample=pool_vectors,
        centroids=centroids,
        calibration=fitted.with_fill(sample),
    )
    reference = replace(reference, model=method.fit(reference, settings))
    return replace(reference, pool_scores=label_risk.pool_scores(sample, reference, settings))


def _dimension(vectors: Sequence[np.ndarray]) -> int | None:
    """The one size of every embedding (None without any); mixed sizes are refused."""
    dims = {len(v) for v in vectors}
    if len(dims) > 1:
        raise ValueError(
            f"embeddings of different sizes {sorted(dims)}: re-run curate with one embed"
        )
    return dims.pop() if dims else None


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
    return np.asarray(settings.ranking.score(members, cell, reference, settings, target_index))
