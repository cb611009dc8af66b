"""Selection diagnostics: how close the selection came to the target, and what it is made of.

The OT figures are Sinkhorn divergences (entropic OT debiased by the self terms, so zero for equal
clouds) from the target set to the pool and to the selected set, each side capped at
``diagnostics_sample`` embeddings taken in hash order. They use the nudge epsilon but a tighter
tolerance than selection needs, so figures of different methods can be compared.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from voxsift.selectors import sinkhorn
from voxsift.selectors.methods import Reference
from voxsift.selectors.settings import SelectSettings

TOLERANCE = 1e-3


def ot_report(
    reference: Reference, selected: np.ndarray, settings: SelectSettings
) -> dict[str, Any] | None:
    """Sinkhorn divergences target→pool and target→selected; None without both embeddings."""
    limit = settings.diagnostics_sample
    targets, pool = reference.targets[:limit], reference.pool_sample[:limit]
    if not len(targets) or not len(pool):
        return None
    chosen = selected[:limit]
    nudge = settings.nudge

    def distance(other: np.ndarray) -> float | None:
        if not len(other):
            return None
        value = sinkhorn.divergence(targets, other, nudge.epsilon, TOLERANCE, nudge.max_iterations)
        return round(value, 6)

    return {
        "measure": "sinkhorn_divergence",
        "epsilon": nudge.epsilon,
        "target_to_pool": distance(pool),
        "target_to_selected": distance(chosen),
        "samples": {"target": len(targets), "pool": len(pool), "selected": len(chosen)},
    }


def composition(
    field: str | None, rows: Iterable[tuple[str | None, bool]]
) -> dict[str, Any] | None:
    """Counts of each value of ``field`` among ranked candidates and among the selected."""
    if field is None:
        return None
    candidates, selected = Counter(), Counter()
    for group, picked in rows:
        name = "(none)" if group is None else group
        candidates[name] += 1
        selected[name] += picked
    if set(candidates) == {"(none)"}:
        return None
    return {
        "field": field,
        "candidates": dict(sorted(candidates.items())),
        "selected": {k: v for k, v in sorted(selected.items()) if v},
    }


def fit_report(reference: Reference, settings: SelectSettings) -> dict[str, Any]:
    """Sizes of what was fitted, the label risk when candidates rank by the label-aware key
    (None when they rank by the raw score), and the method's own figures (how Sinkhorn ended)."""
    report: dict[str, Any] = {
        "targets": len(reference.targets),
        "pool_sample": len(reference.pool_sample),
        "cells": 0 if reference.centroids is None else len(reference.centroids),
        "label_risk": settings.label_risk if reference.pool_scores is not None else None,
    }
    if reference.model is not None:
        report.update(settings.ranking.fit_report(reference.model))
    return report


def mean_expected_wer(rows: Iterable[tuple[float | None, bool]]) -> dict[str, float | None]:
    """The mean expected WER of the ranked candidates and of the selected ones, from
    (expected WER, selected) per ranked candidate; those without an expected WER are left out."""
    known = [(e, picked) for e, picked in rows if e is not None]

    def mean(values: list[float]) -> float | None:
        return round(float(np.mean(values)), 6) if values else None

    return {
        "candidates": mean([e for e, _ in known]),
        "selected": mean([e for e, picked in known if picked]),
    }
