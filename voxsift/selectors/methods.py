"""Ranking methods: each maps candidates to scores, lower is better, ties broken by key.

The select stage calls :func:`score` with every candidate row that passed the filters; a method
never sees the budget, so every method shares the same budget rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Scorer = Callable[[Sequence[dict[str, Any]], int], np.ndarray]


def uniform_hash(seed: int, key: str, salt: str = "") -> float:
    """A uniform number in [0, 1) from (seed, key): the same on every runner and worker."""
    digest = hashlib.sha256(f"{salt}{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def random_scores(candidates: Sequence[dict[str, Any]], seed: int) -> np.ndarray:
    """Uniform random order, reproducible by seed."""
    return np.array([uniform_hash(seed, row["key"], "select") for row in candidates])


METHODS: dict[str, Scorer] = {"random": random_scores}


def score(method: str, candidates: Sequence[dict[str, Any]], seed: int) -> np.ndarray:
    return METHODS[method](candidates, seed)
