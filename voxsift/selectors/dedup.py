"""Near-duplicate removal and decontamination by embedding distance.

Two samples are copies when the squared distance of their embeddings is at most the threshold.
Decontamination drops every candidate that copies a sample of the target or evaluation sets, so
no evaluation sample leaks into training. Dedup walks candidates in order of preference (a
transcript first, then higher confidence, then key) and drops each one that copies a candidate
already kept; both record the key they matched. Dedup runs within a k-means cell of the select
stage, so copies split by a cell border are missed: with a threshold far below the distance
between cells, that is rare.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxsift.selectors.index import VectorIndex
from voxsift.selectors.methods import Candidate
from voxsift.selectors.settings import SelectSettings

NEIGHBORS = 16
"""Neighbors examined per candidate; past this many close copies of one sample, some may stay."""


def matches(
    queries: np.ndarray, index: VectorIndex, keys: Sequence[str], threshold: float
) -> list[str | None]:
    """For each query, the key of its nearest indexed sample within ``threshold``, or None."""
    if not len(queries) or not len(keys):
        return [None] * len(queries)
    distances, ids = index.search(queries, 1)
    return [
        keys[i] if d <= threshold else None for d, i in zip(distances[:, 0], ids[:, 0], strict=True)
    ]


def near_duplicates(
    embeddings: np.ndarray, keys: Sequence[str], threshold: float
) -> list[str | None]:
    """Rows already in order of preference → the kept key each row copies, or None to keep it."""
    if len(keys) < 2:
        return [None] * len(keys)
    distances, ids = VectorIndex(embeddings).search(embeddings, NEIGHBORS + 1)
    kept = np.ones(len(keys), dtype=bool)
    matched: list[str | None] = [None] * len(keys)
    for row in range(len(keys)):
        for distance, other in zip(distances[row], ids[row], strict=True):
            if distance > threshold:
                break
            if 0 <= other < row and kept[other]:
                kept[row], matched[row] = False, keys[other]
                break
    return matched


def drop_copies(
    members: Sequence[Candidate],
    guard: VectorIndex | None,
    guard_keys: Sequence[str],
    settings: SelectSettings,
) -> tuple[list[Candidate], list[tuple[Candidate, str, str]]]:
    """Candidates in order of preference → (kept, [(dropped, reason, matched key)]).

    Candidates without an embedding cannot be compared and are always kept.
    """
    comparable = [m for m in members if m.embedding is not None]
    kept = [m for m in members if m.embedding is None]
    dropped: list[tuple[Candidate, str, str]] = []
    if comparable and guard is not None and settings.decontaminate:
        vectors = np.stack([m.embedding for m in comparable])
        found = matches(vectors, guard, guard_keys, settings.duplicate_distance)
        dropped += [
            (m, "filtered_contaminated", k) for m, k in zip(comparable, found, strict=True) if k
        ]
        comparable = [m for m, k in zip(comparable, found, strict=True) if k is None]
    if comparable and settings.dedup:
        vectors = np.stack([m.embedding for m in comparable])
        found = near_duplicates(vectors, [m.key for m in comparable], settings.duplicate_distance)
        dropped += [
            (m, "filtered_near_duplicate", k) for m, k in zip(comparable, found, strict=True) if k
        ]
        comparable = [m for m, k in zip(comparable, found, strict=True) if k is None]
    return kept + comparable, dropped
