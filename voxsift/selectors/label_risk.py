"""Label-aware ranking: target-likeness and the expected quality of the training text, in one key.

Over a pseudo-labeled pool, the candidates most like the target are often those the teacher
labels worst, so ranking by target-likeness alone fills the budget with wrong training text. For
every method that ranks against the target (``needs_target``: nudge, knn, dsir) the rule is:

1. the method's raw score s (lower is more target-like) becomes its quantile in the pool,
   ``u = F(s)``, with F the empirical CDF of the method's scores of the reference's pool sample
   (computed once at fit time, stored in the Reference; mid-rank levels ``(i + 0.5)/n`` at the
   sorted sample scores, linear in between, constant beyond), so ``u ∈ [0, 1]`` whatever the
   method's units and comparable across cells;
2. candidates rank by ``u + label_risk · expected_wer``, lower first, ties by s and then key;
   ``expected_wer`` is the calibrated expected WER of the candidate's training text
   (calibration.py: 0 for a reference transcript), the pool sample's mean where it is unknown.

So with ``label_risk: 1`` a candidate whose label is expected to be 10 points of WER worse must
be 10 pool percentiles more target-like to rank level with the other. The selection row's
``score`` is this ranking key. ``label_risk: 0`` switches the rule off: the method's raw score
is the ranking key and the ``score``, exactly as without label-aware ranking. Methods that do
not rank against the target (random, confidence) always use their raw score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxsift.selectors.candidates import Candidate, Reference
from voxsift.selectors.index import VectorIndex
from voxsift.selectors.settings import SelectSettings


def active(settings: SelectSettings) -> bool:
    """Whether candidates are ranked by the label-aware key rather than the raw score."""
    return settings.label_risk > 0 and settings.ranking.needs_target


def pool_scores(
    sample: Sequence[Candidate], reference: Reference, settings: SelectSettings
) -> np.ndarray | None:
    """The method's raw scores of the pool sample, sorted; None when the rule is off.

    ``reference`` already holds the method's fitted model. The sample is scored cell by cell in
    key order, the way the select stage scores its candidates.
    """
    if not active(settings):
        return None
    cells: dict[int, list[Candidate]] = {}
    for candidate in sorted((c for c in sample if c.embedding is not None), key=lambda c: c.key):
        cells.setdefault(reference.cell(candidate.embedding), []).append(candidate)
    built: list[VectorIndex] = []

    def target_index() -> VectorIndex:
        if not built:
            built.append(VectorIndex(reference.targets))
        return built[0]

    method = settings.ranking
    scores = [
        np.asarray(method.score(members, cell, reference, settings, target_index), np.float64)
        for cell, members in sorted(cells.items())
    ]
    return np.sort(np.concatenate(scores)) if scores else np.zeros(0)


def quantiles(sorted_scores: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """The pool quantile u of each raw score (see the module docstring)."""
    count = len(sorted_scores)
    if not count:
        return np.full(len(raw), 0.5)
    levels = (np.arange(count, dtype=np.float64) + 0.5) / count
    return np.interp(np.asarray(raw, dtype=np.float64), sorted_scores, levels)


def ranking_scores(
    raw: np.ndarray, members: Sequence[Candidate], reference: Reference, settings: SelectSettings
) -> np.ndarray:
    """The key each member ranks by: ``u + label_risk · expected_wer``, or the raw score."""
    raw = np.asarray(raw, dtype=np.float64)
    if not active(settings) or reference.pool_scores is None:
        return raw
    fill = reference.calibration.fill
    expected = np.array([fill if m.expected_wer is None else m.expected_wer for m in members])
    return quantiles(reference.pool_scores, raw) + settings.label_risk * expected
